//! The `multipart` target: the deployment part reader (`zeebe_authz_core::multipart`) against
//! a model of how the gateway binds `@RequestPart("tenantId") String`: Tomcat's FileUpload
//! (`FileUploadBase`, `MultipartStream`, `ParameterParser`, `MimeUtility`) splits the body
//! into parts, `Request.getPart` takes the first part whose field name is `tenantId`, and
//! Spring's `StringHttpMessageConverter` decodes its bytes (UTF-8 unless the part's
//! `Content-Type` names a charset). Written from the behaviour of those classes as we read
//! them (apache/tomcat `java/org/apache/tomcat/util/http/fileupload/`), in our own code.
//!
//! Input: the request's `Content-Type`, a line feed, then the body (no line feed: the whole
//! input is the body of `multipart/form-data; boundary=XyZ`).
//!
//! Property: never a panic; when the reader returns a tenant (or none: the default tenant),
//! the model binds exactly that, or the gateway fails the request (then nothing runs); when
//! the model cannot tell (something it does not model, or something the gateway's
//! configuration decides), the reader must have refused.
//!
//! Not modelled, deliberately (each only makes the gateway fail a request): the part header
//! size limit, the part count limit, Spring's `ContentDisposition` and `MediaType` parse errors.

use zeebe_authz_core::multipart::read_part;

/// The content type used when the input has no line feed.
pub const MULTIPART_DEFAULT_CT: &str = "multipart/form-data; boundary=XyZ";

/// What the gateway binds as the deployment's `tenantId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    /// The request fails before the controller runs.
    Fails,
    /// The controller gets this part's text (`None`: no part, the default tenant).
    Tenant(Option<String>),
    /// It depends on what the model does not know: the reader must refuse.
    Unsure(&'static str),
}

/// Splits a `multipart` input into content type and body.
pub fn multipart_input(data: &[u8]) -> Option<(String, &[u8])> {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => Some((String::from_utf8(data[..i].to_vec()).ok()?, &data[i + 1..])),
        None => Some((MULTIPART_DEFAULT_CT.to_string(), data)),
    }
}

pub fn multipart(data: &[u8]) {
    let Some((content_type, body)) = multipart_input(data) else {
        return;
    };
    let ours = read_part(body, &content_type, "tenantId");
    let model = gateway_tenant(body, &content_type);
    match (&ours, &model) {
        (Ok(v), Bound::Tenant(m)) => assert_eq!(
            v.map(str::to_string),
            *m,
            "the reader and the gateway bind different tenants: {content_type:?} {:?}",
            String::from_utf8_lossy(body)
        ),
        (Ok(v), Bound::Unsure(why)) => panic!(
            "the reader read {v:?} where the gateway's reading is not certain ({why}): {content_type:?} {:?}",
            String::from_utf8_lossy(body)
        ),
        (Ok(_), Bound::Fails) | (Err(_), _) => {}
    }
}

/// The model: what the gateway binds as `tenantId` from this request.
pub fn gateway_tenant(body: &[u8], content_type: &str) -> Bound {
    // Spring MVC: the endpoint consumes multipart/form-data (anything else is a 415).
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("multipart/form-data") {
        return Bound::Fails;
    }
    // Tomcat decodes part headers with the request's charset: coyote's Request finds
    // `charset=` (case-sensitive, anywhere) in the content type. Spring Boot's
    // CharacterEncodingFilter may force UTF-8 first; which one wins is configuration.
    if let Some(at) = content_type.find("charset=") {
        let v = content_type[at + 8..]
            .split(';')
            .next()
            .unwrap_or("")
            .trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v)
            .trim();
        if !v.eq_ignore_ascii_case("utf-8") {
            return Bound::Unsure("a request charset other than UTF-8 decodes the part headers");
        }
    }
    // FileUploadBase.getBoundary: ParameterParser on `;` or `,` (whichever comes first).
    let params = java_params(content_type, &[';', ',']);
    let boundary = match param(&params, "boundary") {
        Ok(Some(b)) => b,
        Ok(None) => return Bound::Fails,
        Err(why) => return Bound::Unsure(why),
    };
    // String.getBytes(ISO_8859_1): what is not Latin-1 becomes `?`.
    let boundary: Vec<u8> = boundary
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect();
    if boundary.len() + 4 >= 4096 {
        return Bound::Fails;
    }
    let parts = match split_parts(body, &boundary) {
        Ok(p) => p,
        Err(b) => return b,
    };
    let Some(part) = parts.into_iter().find(|p| p.name == "tenantId") else {
        return Bound::Tenant(None);
    };
    // StringHttpMessageConverter: the part's charset, else UTF-8 (Spring Boot's default).
    if let Some(ct) = &part.content_type {
        let charset = ct.split(';').skip(1).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("charset")
                .then(|| v.trim().trim_matches('"').to_string())
        });
        if charset.is_some_and(|c| !c.eq_ignore_ascii_case("utf-8")) {
            return Bound::Unsure("a part charset other than UTF-8");
        }
    }
    Bound::Tenant(Some(String::from_utf8_lossy(&part.data).into_owned()))
}

struct ModelPart {
    name: String,
    content_type: Option<String>,
    data: Vec<u8>,
}

fn find_from(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// MultipartStream and FileItemIteratorImpl: the named parts, in order.
fn split_parts(body: &[u8], boundary: &[u8]) -> Result<Vec<ModelPart>, Bound> {
    let mut parts = Vec::new();
    // skipPreamble: the first `--boundary` anywhere; a stream without one, or with anything
    // but `--`, CRLF or LF after it, has no parts (the exception is swallowed there).
    let open = [b"--", boundary].concat();
    let Some(at) = find_from(body, 0, &open) else {
        return Ok(parts);
    };
    let mut pos = at + open.len();
    match (body.get(pos), body.get(pos + 1)) {
        (Some(b'\n'), _) => pos += 1,
        (Some(b'\r'), Some(b'\n')) => pos += 2,
        _ => return Ok(parts),
    }
    let delimiter = [b"\r\n--", boundary].concat();
    loop {
        // readHeaders: up to CRLFCRLF, matched naively (a mismatch restarts the match
        // without looking at that byte again).
        let mut i = 0;
        let start = pos;
        while i < 4 {
            let Some(&b) = body.get(pos) else {
                return Err(Bound::Fails);
            };
            pos += 1;
            i = if b == b"\r\n\r\n"[i] { i + 1 } else { 0 };
        }
        let head = String::from_utf8_lossy(&body[start..pos]).into_owned();
        let headers = parse_headers(&head)?;
        let first = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let disposition = first("content-disposition");
        let content_type = first("content-type");
        let name = match &disposition {
            Some(d) if d.to_lowercase().starts_with("form-data") => {
                let params = java_params(d, &[';']);
                param(&params, "name")
                    .map_err(Bound::Unsure)?
                    .map(|n| java_trim(&n))
            }
            _ => None,
        };
        let end = find_from(body, pos, &delimiter).ok_or(Bound::Fails)?;
        let data = body[pos..end].to_vec();
        pos = end + delimiter.len();
        if let Some(name) = name {
            if content_type
                .as_deref()
                .is_some_and(|c| c.to_lowercase().starts_with("multipart/mixed"))
            {
                return Err(Bound::Unsure("a multipart/mixed part (not modelled)"));
            }
            parts.push(ModelPart {
                name,
                content_type,
                data,
            });
        }
        // readBoundary: `--` ends the stream, CRLF or a lone LF starts the next part.
        match (body.get(pos), body.get(pos + 1)) {
            (Some(b'\n'), _) => pos += 1,
            (Some(b'-'), Some(b'-')) => return Ok(parts),
            (Some(b'\r'), Some(b'\n')) => pos += 2,
            _ => return Err(Bound::Fails),
        }
    }
}

/// FileUploadBase.getParsedHeaders: lines end at CRLF; a line starting with a space or a tab
/// continues the one above (joined by one space); a line without `:` is skipped; names and
/// values are trimmed (`String.trim`), names lower-cased; first value first.
fn parse_headers(head: &str) -> Result<Vec<(String, String)>, Bound> {
    let mut out = Vec::new();
    let mut start = 0;
    // parseEndOfLine: the next CRLF, or an IllegalStateException.
    let eol = |from: usize| head[from..].find("\r\n").map(|i| i + from);
    loop {
        let end = eol(start).ok_or(Bound::Fails)?;
        if end == start {
            return Ok(out);
        }
        let mut line = head[start..end].to_string();
        start = end + 2;
        while start < head.len() {
            let non_ws = head[start..]
                .find(|c| c != ' ' && c != '\t')
                .map_or(head.len(), |i| i + start);
            if non_ws == start {
                break;
            }
            let end = eol(non_ws).ok_or(Bound::Fails)?;
            line.push(' ');
            line.push_str(&head[non_ws..end]);
            start = end + 2;
        }
        if let Some((k, v)) = line.split_once(':') {
            out.push((java_trim(k).to_lowercase(), java_trim(v)));
        }
    }
}

/// `String.trim`: every char up to U+0020 at either end.
fn java_trim(s: &str) -> String {
    s.trim_matches(|c: char| c <= ' ').to_string()
}

/// `Character.isWhitespace`: ASCII white space and `\x1c`-`\x1f`, and the Unicode space,
/// line and paragraph separators but the no-break ones.
fn java_whitespace(c: char) -> bool {
    if c.is_ascii() {
        matches!(c, ' ' | '\t'..='\r' | '\u{1c}'..='\u{1f}')
    } else {
        c.is_whitespace() && !matches!(c, '\u{85}' | '\u{a0}' | '\u{2007}' | '\u{202f}')
    }
}

/// One parameter as ParameterParser keeps it: its lower-cased name (an RFC 2231 `*` cut off),
/// its value, and whether it decodes the value (`name*=`, or an RFC 2047 encoded word).
type JavaParam = (String, Option<String>, bool);

/// The value ParameterParser's map keeps for `name` (the last one); unsure when any of them is
/// decoded: RFC2231Utility and MimeUtility turn it into other text.
fn param(params: &[JavaParam], name: &str) -> Result<Option<String>, &'static str> {
    let mut found = None;
    for (_, v, decoded) in params.iter().filter(|(k, _, _)| k == name) {
        if *decoded {
            return Err("an RFC 2231 or RFC 2047 encoded parameter");
        }
        found = Some(v.clone());
    }
    Ok(found.flatten())
}

/// ParameterParser.parse with lower-cased names, in order (its map keeps the last of a name).
fn java_params(text: &str, separators: &[char]) -> Vec<JavaParam> {
    let sep = separators
        .iter()
        .filter_map(|&s| text.find(s).map(|i| (i, s)))
        .min()
        .map_or(separators[0], |(_, s)| s);
    let chars: Vec<char> = text.chars().collect();
    let mut pos = 0;
    let mut out = Vec::new();
    let token = |from: usize, to: usize, quoted: bool| -> Option<String> {
        let (mut i1, mut i2) = (from, to);
        while i1 < i2 && java_whitespace(chars[i1]) {
            i1 += 1;
        }
        while i2 > i1 && java_whitespace(chars[i2 - 1]) {
            i2 -= 1;
        }
        if quoted && i2 - i1 >= 2 && chars[i1] == '"' && chars[i2 - 1] == '"' {
            i1 += 1;
            i2 -= 1;
        }
        (i2 > i1).then(|| chars[i1..i2].iter().collect())
    };
    while pos < chars.len() {
        let from = pos;
        while pos < chars.len() && chars[pos] != '=' && chars[pos] != sep {
            pos += 1;
        }
        let name = token(from, pos, false);
        let mut value = None;
        if pos < chars.len() && chars[pos] == '=' {
            pos += 1;
            let from = pos;
            let (mut quoted, mut escaped) = (false, false);
            while pos < chars.len() {
                let c = chars[pos];
                if !quoted && c == sep {
                    break;
                }
                if !escaped && c == '"' {
                    quoted = !quoted;
                }
                escaped = !escaped && c == '\\';
                pos += 1;
            }
            value = token(from, pos, true);
        }
        if pos < chars.len() && chars[pos] == sep {
            pos += 1;
        }
        if let Some(name) = name {
            let rfc2231 = name.ends_with('*');
            let decoded = rfc2231 || value.as_deref().is_some_and(has_encoded_word);
            let name = if rfc2231 {
                &name[..name.len() - 1]
            } else {
                &name
            };
            out.push((name.to_lowercase(), value, decoded));
        }
    }
    out
}

/// Whether MimeUtility.decodeText may decode something in `value`: a word (between spaces,
/// tabs, CR or LF) that starts with `=?` and has `?charset?B|Q?text?=` after it.
fn has_encoded_word(value: &str) -> bool {
    value
        .split([' ', '\t', '\r', '\n'])
        .filter_map(|w| w.strip_prefix("=?"))
        .any(|w| {
            let mut it = w.splitn(3, '?');
            let (_charset, encoding, rest) = (it.next(), it.next(), it.next());
            matches!(encoding, Some("B" | "Q")) && rest.is_some_and(|r| r.contains("?="))
        })
}
