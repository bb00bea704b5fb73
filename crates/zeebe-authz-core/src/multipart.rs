//! Reading one text part of a `multipart/form-data` body (a REST deployment's `tenantId`), as
//! the gateway's servlet container splits it (RFC 7578; Tomcat's FileUpload
//! `MultipartStream`: parts end at `CRLF--boundary`, header names are case-insensitive,
//! `Content-Disposition` parameter names too).
//!
//! A strict subset: whatever a client library writes (`--boundary CRLF`, headers, a blank
//! line, the data, `CRLF--boundary--`) is read; anything a container might split otherwise is
//! refused with the reason: a preamble, an epilogue other than a line break, a quoted name
//! with an escape, an RFC 5987 `name*=`, an RFC 2047 encoded word (`=?UTF-8?Q?…?=`) in a
//! part name, a `Content-Transfer-Encoding`, a part named twice, a file part under the name, a
//! charset other than UTF-8 (of the part, or of the request). A refusal is a deny, never a
//! guess.

/// Why a multipart body is not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    /// The content type is not `multipart/form-data` with a usable boundary.
    #[error("not multipart/form-data with a boundary")]
    ContentType,
    /// The body does not follow the strict layout.
    #[error("multipart body not read: {0}")]
    Layout(&'static str),
    /// The part is there more than once (which one the gateway takes is not ours to guess).
    #[error("the part '{0}' is sent more than once")]
    Repeated(String),
}

/// The boundary of a `multipart/form-data` content type. Refused where Tomcat reads the
/// content type otherwise: a parameter in RFC 2231 form (`boundary*=`: Tomcat strips the `*`
/// and decodes the value), an RFC 2047 encoded word in the boundary (`=?UTF-8?Q?…?=`, which
/// Tomcat decodes), and a request charset other than UTF-8 (Tomcat decodes the part headers
/// with it; it finds `charset=` anywhere in the text).
fn boundary(content_type: &str) -> Option<&str> {
    let mut params = content_type.split(';');
    let media = params.next()?.trim();
    if !media.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    // Every `charset=`, in any case: Tomcat takes the first case-sensitive `charset=`, which
    // need not be the first one a case-blind search finds (`Charset=utf-8; charset=UTF-16`).
    let lower = content_type.to_ascii_lowercase();
    for (at, _) in lower.match_indices("charset=") {
        let v = lower[at + 8..].split(';').next().unwrap_or("").trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v)
            .trim();
        if v != "utf-8" {
            return None;
        }
    }
    let mut found = None;
    for p in params {
        let (k, v) = p.split_once('=')?;
        if k.trim().ends_with('*') || v.contains("=?") {
            return None;
        }
        if k.trim().eq_ignore_ascii_case("boundary") {
            if found.is_some() {
                return None;
            }
            let v = v.trim();
            let v = match v.strip_prefix('"') {
                Some(q) => q.strip_suffix('"').filter(|q| !q.contains(['"', '\\']))?,
                None => v,
            };
            found = Some(v);
        }
    }
    found.filter(|b| {
        (1..=70).contains(&b.len()) && b.bytes().all(|c| c.is_ascii_graphic() || c == b' ')
    })
}

/// The text of the part named `name`, `None` when there is no such part.
pub fn read_part<'a>(
    body: &'a [u8],
    content_type: &str,
    name: &str,
) -> Result<Option<&'a str>, MultipartError> {
    let boundary = boundary(content_type).ok_or(MultipartError::ContentType)?;
    let open = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    let mut rest = body
        .strip_prefix(open.as_bytes())
        .ok_or(MultipartError::Layout(
            "a preamble before the first boundary",
        ))?;
    let mut found: Option<&'a str> = None;
    loop {
        if let Some(after) = rest.strip_prefix(b"--") {
            if after.is_empty() || after == b"\r\n" {
                return Ok(found);
            }
            return Err(MultipartError::Layout(
                "an epilogue after the last boundary",
            ));
        }
        rest = rest.strip_prefix(b"\r\n").ok_or(MultipartError::Layout(
            "a boundary not followed by a line break",
        ))?;
        let head_end =
            find(rest, b"\r\n\r\n").ok_or(MultipartError::Layout("a part's headers do not end"))?;
        let head = std::str::from_utf8(&rest[..head_end])
            .map_err(|_| MultipartError::Layout("part headers are not UTF-8"))?;
        let data_start = head_end + 4;
        let data_len = find(&rest[data_start..], delimiter.as_bytes()).ok_or(
            MultipartError::Layout("a part does not end with the boundary"),
        )?;
        let data = &rest[data_start..data_start + data_len];
        rest = &rest[data_start + data_len + delimiter.len()..];
        let part = part_head(head)?;
        if part.name == name {
            if found.is_some() {
                return Err(MultipartError::Repeated(name.into()));
            }
            if part.file {
                return Err(MultipartError::Layout("a file part where text is expected"));
            }
            found = Some(
                std::str::from_utf8(data)
                    .map_err(|_| MultipartError::Layout("a text part that is not UTF-8"))?,
            );
        }
    }
}

struct PartHead<'h> {
    name: &'h str,
    file: bool,
}

fn part_head(head: &str) -> Result<PartHead<'_>, MultipartError> {
    let mut disposition = None;
    for line in head.split("\r\n") {
        // Where Tomcat's upload parser and a plain reading part ways, refuse. It joins a line
        // that starts with a space or tab onto the header above (RFC 822 folding), and trims
        // every byte up to and including the space (Java's `String.trim`), control bytes
        // too: a `\tX:Y; name=tenantId` line, or `name=tenantId\x1f`, would name a part
        // there that this reader does not see.
        if line.starts_with([' ', '\t']) {
            return Err(MultipartError::Layout("a folded part header line"));
        }
        if line.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
            return Err(MultipartError::Layout(
                "a control or non-ASCII byte in a part header",
            ));
        }
        let (k, v) = line
            .split_once(':')
            .ok_or(MultipartError::Layout("a part header without ':'"))?;
        if k.is_empty() || k.ends_with(' ') {
            return Err(MultipartError::Layout("a part header name with a space"));
        }
        if k.eq_ignore_ascii_case("content-disposition") {
            if disposition.replace(v.trim()).is_some() {
                return Err(MultipartError::Layout("two Content-Disposition headers"));
            }
        } else if k.eq_ignore_ascii_case("content-transfer-encoding") {
            return Err(MultipartError::Layout("a Content-Transfer-Encoding header"));
        } else if k.eq_ignore_ascii_case("content-type") {
            let charset = v.split(';').skip(1).find_map(|p| {
                let (pk, pv) = p.split_once('=')?;
                pk.trim()
                    .eq_ignore_ascii_case("charset")
                    .then(|| pv.trim().trim_matches('"'))
            });
            if charset.is_some_and(|c| !c.eq_ignore_ascii_case("utf-8")) {
                return Err(MultipartError::Layout("a part charset other than UTF-8"));
            }
            // Tomcat expands a multipart/mixed part into sub-parts under the same field name.
            if v.trim().to_ascii_lowercase().starts_with("multipart/") {
                return Err(MultipartError::Layout("a multipart part inside the form"));
            }
        }
    }
    let disposition =
        disposition.ok_or(MultipartError::Layout("a part without Content-Disposition"))?;
    let mut params = disposition.split(';');
    if !params
        .next()
        .is_some_and(|d| d.trim().eq_ignore_ascii_case("form-data"))
    {
        return Err(MultipartError::Layout("a disposition other than form-data"));
    }
    let mut name = None;
    let mut file = false;
    for p in params {
        let (k, v) = p.split_once('=').ok_or(MultipartError::Layout(
            "a disposition parameter without '='",
        ))?;
        let k = k.trim().to_ascii_lowercase();
        let v = v.trim();
        let v = match v.strip_prefix('"') {
            Some(q) => q
                .strip_suffix('"')
                .filter(|q| !q.contains(['"', '\\']))
                .ok_or(MultipartError::Layout("a quoted parameter with an escape"))?,
            // Tomcat reads a quote inside an unquoted value as the start of a quoted section.
            None if v.contains('"') => {
                return Err(MultipartError::Layout(
                    "a quote inside an unquoted parameter",
                ));
            }
            None => v,
        };
        // Tomcat trims the name again once unquoted: `name=" tenantId "` names `tenantId`.
        if v != v.trim() {
            return Err(MultipartError::Layout(
                "a parameter value with surrounding spaces",
            ));
        }
        // Tomcat decodes RFC 2047 encoded words in a parameter (`=?UTF-8?Q?tenantId?=` names
        // `tenantId` there); a name holding `=?` is refused.
        if k == "name" && v.contains("=?") {
            return Err(MultipartError::Layout(
                "an RFC 2047 encoded word in a part name",
            ));
        }
        match k.as_str() {
            "name" if name.replace(v).is_some() => {
                return Err(MultipartError::Layout("a part named twice"));
            }
            "name" => {}
            "filename" => file = true,
            _ if k.ends_with('*') => {
                return Err(MultipartError::Layout("an RFC 5987 parameter"));
            }
            _ => {}
        }
    }
    Ok(PartHead {
        name: name.ok_or(MultipartError::Layout("a part without a name"))?,
        file,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CT: &str = "multipart/form-data; boundary=XyZ";

    fn body(parts: &[(&str, &str)]) -> Vec<u8> {
        let mut b = Vec::new();
        for (head, data) in parts {
            b.extend_from_slice(format!("--XyZ\r\n{head}\r\n\r\n{data}\r\n").as_bytes());
        }
        b.extend_from_slice(b"--XyZ--\r\n");
        b
    }

    #[test]
    fn reads_the_tenant_part_of_a_deployment() {
        let b = body(&[
            (
                "Content-Disposition: form-data; name=\"resources\"; filename=\"a.bpmn\"\r\nContent-Type: application/octet-stream",
                "<xml/>",
            ),
            (
                "Content-Disposition: form-data; name=\"tenantId\"",
                "tenant-a",
            ),
        ]);
        assert_eq!(read_part(&b, CT, "tenantId"), Ok(Some("tenant-a")));
        let no_tenant = body(&[("content-disposition: form-data; NAME=resources", "x")]);
        assert_eq!(read_part(&no_tenant, CT, "tenantId"), Ok(None));
        assert_eq!(
            read_part(&b, "multipart/form-data; boundary=\"XyZ\"", "tenantId"),
            Ok(Some("tenant-a"))
        );
    }

    #[test]
    fn multipart_spellings_a_container_may_read_otherwise_are_refused() {
        let t = "Content-Disposition: form-data; name=\"tenantId\"";
        let twice = body(&[(t, "a"), (t, "b")]);
        assert_eq!(
            read_part(&twice, CT, "tenantId"),
            Err(MultipartError::Repeated("tenantId".into()))
        );
        for head in [
            "Content-Disposition: form-data; name=\"tenant\\Id\"",
            "Content-Disposition: form-data; name*=UTF-8''tenantId",
            "Content-Disposition: form-data; name=\"tenantId\"\r\nContent-Transfer-Encoding: base64",
            "Content-Disposition: form-data; name=\"tenantId\"\r\nContent-Type: text/plain; charset=ISO-8859-1",
            "Content-Disposition: form-data; name=\"tenantId\"; filename=\"t\"",
            "Content-Disposition: form-data; name=\"tenantId\"; name=\"x\"",
        ] {
            assert!(
                read_part(&body(&[(head, "a")]), CT, "tenantId").is_err(),
                "{head}"
            );
        }
        let mut preamble = b"hello\r\n".to_vec();
        preamble.extend(body(&[(t, "a")]));
        assert!(read_part(&preamble, CT, "tenantId").is_err());
        let mut epilogue = body(&[(t, "a")]);
        epilogue.extend_from_slice(b"--XyZ\r\n");
        assert!(read_part(&epilogue, CT, "tenantId").is_err());
        assert!(read_part(&body(&[(t, "a")]), "application/json", "tenantId").is_err());
        assert!(read_part(&body(&[(t, "a")]), "multipart/form-data", "tenantId").is_err());
    }

    /// Tomcat's upload parser names a part where this reader saw a decoy (a security review
    /// found these): folded header lines, Java's trim of control bytes, a quoted name with
    /// spaces, a first Content-Disposition spelled with a control byte. Each read the default
    /// tenant here while the gateway bound `tenantId`; each is refused now.
    #[test]
    fn multipart_headers_tomcat_reads_as_a_tenant_part_are_refused() {
        for head in [
            "Content-Disposition: form-data; name=\"decoy\"\r\n\tX:Y; name=tenantId",
            "Content-Disposition: form-data; name=\"decoy\"\r\n X:Y; name=tenantId",
            "Content-Disposition: form-data; name=\" tenantId \"",
            "Content-Disposition: form-data; name=tenantId\x1f",
            "Content-Disposition: form-data; name=decoy; \x1fname=tenantId",
            "Content-Disposition\x1f: form-data; name=tenantId\r\nContent-Disposition: form-data; name=decoy",
            "Content-Disposition : form-data; name=tenantId",
            "Content-Disposition: form-data; name=ten\"antId",
            "Content-Disposition: form-data; name=\"tenantId\"\r\nContent-Type: multipart/mixed; boundary=b",
            "Content-Disposition: form-data; name=\"t\u{e9}nantId\"",
        ] {
            assert!(
                read_part(&body(&[(head, "tenant-b")]), CT, "tenantId").is_err(),
                "{head:?}"
            );
        }
    }

    /// Tomcat's `ParameterParser` decodes RFC 2047 encoded words in a parameter's value: a
    /// part named `=?UTF-8?Q?tenantId?=` is a `tenantId` part there, and the first one is
    /// what the gateway binds. Before the fix this body read `tenant-a` here while the gateway
    /// deployed to `tenant-b` (found writing the `multipart` fuzz target's model; regression
    /// `fuzz/regressions/multipart/rfc2047-encoded-part-name-is-tenant-id-to-tomcat`).
    #[test]
    fn rfc2047_encoded_part_name_is_tenant_id_to_tomcat() {
        for encoded in [
            "=?UTF-8?Q?tenantId?=",
            "=?UTF-8?B?dGVuYW50SWQ=?=",
            "x =?a?Q?b?=",
        ] {
            let b = body(&[
                (
                    &format!("Content-Disposition: form-data; name=\"{encoded}\""),
                    "tenant-b",
                ),
                (
                    "Content-Disposition: form-data; name=\"tenantId\"",
                    "tenant-a",
                ),
            ]);
            assert!(read_part(&b, CT, "tenantId").is_err(), "{encoded}");
        }
        let b = body(&[("Content-Disposition: form-data; name=tenantId", "tenant-a")]);
        assert!(
            read_part(
                &b,
                "multipart/form-data; boundary=\"=?UTF-8?Q?XyZ?=\"",
                "tenantId"
            )
            .is_err()
        );
    }

    /// Tomcat decodes the part headers with the request's charset (`charset=` anywhere in the
    /// content type), and strips the `*` of an RFC 2231 `boundary*=` and decodes its value:
    /// both read here as if absent before the fix (regressions
    /// `request-charset-decodes-part-headers`, `rfc2231-boundary-star-param`).
    #[test]
    fn request_charset_and_rfc2231_boundary_are_tomcats_reading() {
        let b = body(&[("Content-Disposition: form-data; name=tenantId", "tenant-a")]);
        for ct in [
            "multipart/form-data; charset=UTF-16; boundary=XyZ",
            "multipart/form-data; boundary=XyZ; xcharset=ISO-2022-JP",
            "multipart/form-data; boundary=XyZ; boundary*=UTF-8''Q",
            "multipart/form-data; boundary=XyZ; BOUNDARY*=XyZ",
            // Tomcat's search is case-sensitive: it reads UTF-16 here, a case-blind search
            // that stops at the first match would read UTF-8.
            "multipart/form-data; boundary=XyZ; Charset=utf-8; charset=UTF-16",
        ] {
            assert!(read_part(&b, ct, "tenantId").is_err(), "{ct}");
        }
        for ct in [
            "multipart/form-data; charset=UTF-8; boundary=XyZ",
            "multipart/form-data; boundary=XyZ; charset=\"utf-8\"",
        ] {
            assert_eq!(read_part(&b, ct, "tenantId"), Ok(Some("tenant-a")), "{ct}");
        }
    }
}
