//! Reading the members conditions need from a REST request's JSON body, as the gateway reads
//! it: Spring Boot 3's Jackson `ObjectMapper` with Boot's defaults, binding the body to a
//! request class.
//!
//! One pass over the whole body, validating it as strict JSON (RFC 8259) and keeping only the
//! few members asked for; everything else is skipped without being decoded. Jackson's rules,
//! where they decide what the gateway sees (jackson-core `ByteSourceJsonBootstrapper`,
//! `ReaderBasedJsonParser`/`UTF8StreamJsonParser`, `StreamReadConstraints`; jackson-databind
//! `StringDeserializer`, `BeanDeserializer`; Spring Boot `JacksonAutoConfiguration`):
//!
//! - **Encodings** are detected from the first bytes ([`decode`]): a UTF-8, UTF-16 or UTF-32
//!   byte-order mark, else the pattern of zero bytes; a body is judged in the encoding Jackson
//!   reads it in.
//! - **Duplicate members**: the bean's setter runs once per occurrence, so the **last** one
//!   wins (`STRICT_DUPLICATE_DETECTION` is off). A duplicate of an enclosing object replaces
//!   the whole object: nothing of the first one survives.
//! - **Member names** are compared after unescaping (`"tenant\u0049d"` is `tenantId`) and are
//!   case-sensitive (`ACCEPT_CASE_INSENSITIVE_PROPERTIES` is off).
//! - **Scalars bound to text**: a number is bound as its text as written, `true`/`false` as
//!   those words (`ALLOW_COERCION_OF_SCALARS` is on); `null` is no value; an array or an object
//!   where text is expected is refused by the gateway (and so is not read here either).
//! - **Unknown members are ignored** (Boot turns `FAIL_ON_UNKNOWN_PROPERTIES` off).
//! - **Strictness**: no comments, no single quotes, no unquoted names, no control characters
//!   in strings, no `NaN`, no leading zeros or `+`, no trailing commas (Jackson's defaults);
//!   nesting deeper than 1000 (`StreamReadConstraints`, 2.15+) and numbers longer than 1000
//!   characters are refused.
//!
//! Where Jackson is more lenient than this reader, the reader refuses (and the decision is a
//! deny with the reason): content after the root object (Jackson ignores it, as
//! `FAIL_ON_TRAILING_TOKENS` is off), an unpaired surrogate (`\uD800`, which Jackson keeps in a
//! Java string and UTF-16 decoding replaces), bytes that are not valid in the detected
//! encoding. A refusal never lets a request through; it only costs a client that sends such
//! bodies its call.

use std::borrow::Cow;

/// The deepest nesting Jackson reads (`StreamReadConstraints.DEFAULT_MAX_DEPTH`).
pub const MAX_DEPTH: usize = 1000;
/// The longest number Jackson reads (`StreamReadConstraints.DEFAULT_MAX_NUM_LEN`).
pub const MAX_NUMBER_LEN: usize = 1000;

/// Why a body is not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Not valid in the encoding its first bytes announce.
    #[error("the body is not valid {0}")]
    Encoding(&'static str),
    /// A byte order Jackson refuses (UTF-32 in 2143 or 3412 order).
    #[error("the body's byte order is unusual (UCS-4 2143/3412)")]
    ByteOrder,
    /// Not JSON, at a byte offset.
    #[error("invalid JSON at byte {at}: {what}")]
    Syntax {
        /// Offset in the decoded text.
        at: usize,
        /// What was wrong.
        what: &'static str,
    },
    /// The root is not an object.
    #[error("the body is not a JSON object")]
    NotAnObject,
    /// Deeper than [`MAX_DEPTH`].
    #[error("the body nests deeper than {MAX_DEPTH}")]
    TooDeep,
}

/// One member to read: a member of the root object, or of an object that is a member of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query<'q> {
    /// The enclosing member (`changeset` for `changeset.retries`).
    pub outer: Option<&'q str>,
    /// The member's name.
    pub name: &'q str,
}

/// What a member holds, as far as a condition cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    /// Not in the body.
    Absent,
    /// `null`.
    Null,
    /// A string, unescaped.
    Str(Cow<'a, str>),
    /// A number, as written.
    Num(&'a str),
    /// `true` or `false`.
    Bool(bool),
    /// An array; its elements as scalars (a nested array or object reads as [`Value::Object`]).
    Array(Vec<Value<'a>>),
    /// An object (or, inside an array, any container).
    Object,
}

impl<'a> Value<'a> {
    /// The member as the gateway binds it to a `String`: `Ok(None)` when there is no value;
    /// `Err` when the gateway refuses it (an array or an object).
    pub fn as_text(&self) -> Result<Option<Cow<'a, str>>, &'static str> {
        match self {
            Value::Absent | Value::Null => Ok(None),
            Value::Str(s) => Ok(Some(s.clone())),
            Value::Num(n) => Ok(Some(Cow::Borrowed(n))),
            Value::Bool(b) => Ok(Some(Cow::Borrowed(if *b { "true" } else { "false" }))),
            Value::Array(_) | Value::Object => Err("an array or an object where text is expected"),
        }
    }

    /// The member as the gateway binds it to a `List<String>`: `Err` for a scalar (a single
    /// value is not taken as a list: `ACCEPT_SINGLE_VALUE_AS_ARRAY` is off), an object, or an
    /// element that is `null` or a container.
    pub fn as_texts(&self) -> Result<Vec<Cow<'a, str>>, &'static str> {
        match self {
            Value::Absent | Value::Null => Ok(Vec::new()),
            Value::Array(items) => items
                .iter()
                .map(|v| match v.as_text() {
                    Ok(Some(t)) => Ok(t),
                    Ok(None) => Err("a null element in a list of text"),
                    Err(e) => Err(e),
                })
                .collect(),
            _ => Err("a single value or an object where a list is expected"),
        }
    }
}

/// The body as text, in the encoding Jackson detects from its first bytes
/// (`ByteSourceJsonBootstrapper.detectEncoding`): a byte-order mark (UTF-32 BE/LE, UTF-16
/// BE/LE, UTF-8, each skipped), else zero bytes among the first four (`00 00 00 xx` UTF-32BE,
/// `xx 00 00 00` UTF-32LE, `00 xx` UTF-16BE, `xx 00` UTF-16LE), else UTF-8.
pub fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, JsonError> {
    #[derive(Clone, Copy)]
    enum Enc {
        Utf8,
        Utf16Be,
        Utf16Le,
        Utf32Be,
        Utf32Le,
    }
    let (enc, skip) = if bytes.len() >= 4 {
        let quad = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        match quad {
            0x0000_FEFF => (Enc::Utf32Be, 4),
            0xFFFE_0000 => (Enc::Utf32Le, 4),
            0x0000_FFFE | 0xFEFF_0000 => return Err(JsonError::ByteOrder),
            _ if quad >> 16 == 0xFEFF => (Enc::Utf16Be, 2),
            _ if quad >> 16 == 0xFFFE => (Enc::Utf16Le, 2),
            _ if quad >> 8 == 0xEF_BBBF => (Enc::Utf8, 3),
            _ if quad >> 8 == 0 => (Enc::Utf32Be, 0),
            _ if quad & 0x00FF_FFFF == 0 => (Enc::Utf32Le, 0),
            _ if quad & !0x00FF_0000 == 0 || quad & !0x0000_FF00 == 0 => {
                return Err(JsonError::ByteOrder);
            }
            _ => (utf16_or_8((quad >> 16) as u16), 0),
        }
    } else if bytes.len() >= 2 {
        let pair = u16::from_be_bytes([bytes[0], bytes[1]]);
        match pair {
            // A 2- or 3-byte body with a BOM cannot hold an object; leave it to the parser.
            _ if bytes.len() == 3 && bytes == [0xEF, 0xBB, 0xBF] => (Enc::Utf8, 3),
            _ => (utf16_or_8(pair), 0),
        }
    } else {
        (Enc::Utf8, 0)
    };
    fn utf16_or_8(pair: u16) -> Enc {
        if pair & 0xFF00 == 0 {
            Enc::Utf16Be
        } else if pair & 0x00FF == 0 {
            Enc::Utf16Le
        } else {
            Enc::Utf8
        }
    }
    let body = &bytes[skip..];
    match enc {
        Enc::Utf8 => std::str::from_utf8(body)
            .map(Cow::Borrowed)
            .map_err(|_| JsonError::Encoding("UTF-8")),
        Enc::Utf16Be | Enc::Utf16Le => {
            if !body.len().is_multiple_of(2) {
                return Err(JsonError::Encoding("UTF-16"));
            }
            let units = body.chunks_exact(2).map(|c| match enc {
                Enc::Utf16Be => u16::from_be_bytes([c[0], c[1]]),
                _ => u16::from_le_bytes([c[0], c[1]]),
            });
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .map(Cow::Owned)
                .map_err(|_| JsonError::Encoding("UTF-16"))
        }
        Enc::Utf32Be | Enc::Utf32Le => {
            if !body.len().is_multiple_of(4) {
                return Err(JsonError::Encoding("UTF-32"));
            }
            body.chunks_exact(4)
                .map(|c| {
                    let q = [c[0], c[1], c[2], c[3]];
                    let v = match enc {
                        Enc::Utf32Be => u32::from_be_bytes(q),
                        _ => u32::from_le_bytes(q),
                    };
                    char::from_u32(v)
                })
                .collect::<Option<String>>()
                .map(Cow::Owned)
                .ok_or(JsonError::Encoding("UTF-32"))
        }
    }
}

/// Reads `queries` from the JSON object `text`, one [`Value`] per query in order (the last
/// occurrence of each). The whole text is validated: any syntax error anywhere is an error.
pub fn read_members<'a>(text: &'a str, queries: &[Query<'_>]) -> Result<Vec<Value<'a>>, JsonError> {
    let mut out = vec![Value::Absent; queries.len()];
    let mut p = Parser {
        b: text.as_bytes(),
        text,
        i: 0,
    };
    p.ws();
    if p.peek() != Some(b'{') {
        return match p.peek() {
            None => Err(p.err("empty body")),
            Some(b'[' | b'"' | b't' | b'f' | b'n' | b'-' | b'0'..=b'9') => {
                Err(JsonError::NotAnObject)
            }
            Some(_) => Err(p.err("not a JSON value")),
        };
    }
    p.object(1, &mut |p, name| {
        let mut taken = false;
        for (q, slot) in queries.iter().zip(out.iter_mut()) {
            if q.outer.is_none() && q.name == name {
                *slot = p.capture(1)?;
                taken = true;
                break;
            }
        }
        if taken {
            return Ok(());
        }
        if !queries.iter().any(|q| q.outer == Some(name)) {
            return p.skip(1);
        }
        // A nested object: this occurrence replaces any earlier one whole.
        for (q, slot) in queries.iter().zip(out.iter_mut()) {
            if q.outer == Some(name) {
                *slot = Value::Absent;
            }
        }
        match p.peek() {
            Some(b'{') => p.object(2, &mut |p, inner| {
                for (q, slot) in queries.iter().zip(out.iter_mut()) {
                    if q.outer == Some(name) && q.name == inner {
                        *slot = p.capture(2)?;
                        return Ok(());
                    }
                }
                p.skip(2)
            }),
            Some(b'n') => p.literal("null"),
            _ => {
                // Not an object: the gateway refuses to bind it; so do we.
                Err(p.err("a scalar or an array where an object is expected"))
            }
        }
    })?;
    p.ws();
    if p.i != p.b.len() {
        return Err(p.err("content after the JSON object"));
    }
    Ok(out)
}

struct Parser<'a> {
    b: &'a [u8],
    text: &'a str,
    i: usize,
}

type MemberFn<'f, 'a> = dyn FnMut(&mut Parser<'a>, &str) -> Result<(), JsonError> + 'f;

impl<'a> Parser<'a> {
    fn err(&self, what: &'static str) -> JsonError {
        JsonError::Syntax { at: self.i, what }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8, what: &'static str) -> Result<(), JsonError> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    /// An object at `depth` (the parser is at `{`): calls `member` with each name, the parser
    /// at the value (after white space); `member` consumes the value.
    fn object(&mut self, depth: usize, member: &mut MemberFn<'_, 'a>) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(JsonError::TooDeep);
        }
        self.i += 1;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a member name"));
            }
            let name = self.string()?;
            self.expect(b':', "expected ':'")?;
            self.ws();
            member(self, &name)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    /// The value at the parser, kept: scalars as they are, an array's elements as scalars.
    fn capture(&mut self, depth: usize) -> Result<Value<'a>, JsonError> {
        match self.peek() {
            Some(b'[') => {
                if depth + 1 > MAX_DEPTH {
                    return Err(JsonError::TooDeep);
                }
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(Value::Array(items));
                }
                loop {
                    self.ws();
                    items.push(match self.peek() {
                        Some(b'[' | b'{') => {
                            self.skip(depth + 1)?;
                            Value::Object
                        }
                        _ => self.scalar()?,
                    });
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Value::Array(items));
                        }
                        _ => return Err(self.err("expected ',' or ']'")),
                    }
                }
            }
            Some(b'{') => {
                self.skip(depth)?;
                Ok(Value::Object)
            }
            _ => self.scalar(),
        }
    }

    fn scalar(&mut self) -> Result<Value<'a>, JsonError> {
        match self.peek() {
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b't') => self.literal("true").map(|()| Value::Bool(true)),
            Some(b'f') => self.literal("false").map(|()| Value::Bool(false)),
            Some(b'n') => self.literal("null").map(|()| Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Num),
            _ => Err(self.err("expected a value")),
        }
    }

    fn literal(&mut self, word: &'static str) -> Result<(), JsonError> {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn number(&mut self) -> Result<&'a str, JsonError> {
        let start = self.i;
        let digits = |p: &mut Parser<'_>| {
            let s = p.i;
            while matches!(p.peek(), Some(b'0'..=b'9')) {
                p.i += 1;
            }
            p.i - s
        };
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.i += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.err("leading zero"));
                }
            }
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(self.err("expected a digit")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return Err(self.err("expected a digit after '.'"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return Err(self.err("expected an exponent"));
            }
        }
        if self.i - start > MAX_NUMBER_LEN {
            return Err(self.err("number longer than 1000 characters"));
        }
        Ok(&self.text[start..self.i])
    }

    /// A string (the parser at `"`), unescaped; borrowed when it holds no escape.
    fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        self.i += 1;
        let start = self.i;
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    let s = &self.text[start..self.i];
                    self.i += 1;
                    return Ok(Cow::Borrowed(s));
                }
                Some(b'\\') => break,
                Some(0..=0x1f) => return Err(self.err("control character in a string")),
                Some(_) => self.i += 1,
            }
        }
        let mut owned = String::from(&self.text[start..self.i]);
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(Cow::Owned(owned));
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.i += 1;
                            let hi = self.hex4()?;
                            let c = if (0xD800..0xDC00).contains(&hi) {
                                if !self.b[self.i..].starts_with(b"\\u") {
                                    return Err(self.err("unpaired surrogate"));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("unpaired surrogate"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            owned.push(
                                char::from_u32(c).ok_or_else(|| self.err("unpaired surrogate"))?,
                            );
                            continue;
                        }
                        _ => return Err(self.err("invalid escape")),
                    };
                    self.i += 1;
                    owned.push(c);
                }
                Some(0..=0x1f) => return Err(self.err("control character in a string")),
                Some(_) => {
                    // Copy one UTF-8 character (the text is valid UTF-8).
                    let ch = self.text[self.i..].chars().next().unwrap_or('\u{FFFD}');
                    owned.push(ch);
                    self.i += ch.len_utf8();
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let h = self
            .b
            .get(self.i..self.i + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.err("invalid \\u escape"))?;
        self.i += 4;
        Ok(h)
    }

    /// Skips the value at the parser (validating it), whose container is at `depth`. No
    /// recursion: a stack of the open containers, bounded by [`MAX_DEPTH`].
    fn skip(&mut self, depth: usize) -> Result<(), JsonError> {
        // The open containers, innermost last: true an object, false an array.
        let mut open = OpenStack::default();
        'value: loop {
            self.ws();
            match self.peek() {
                Some(c @ (b'{' | b'[')) => {
                    if depth + open.len() + 1 > MAX_DEPTH {
                        return Err(JsonError::TooDeep);
                    }
                    self.i += 1;
                    self.ws();
                    let close = if c == b'{' { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.i += 1;
                    } else {
                        open.push(c == b'{');
                        if c == b'{' {
                            self.member_name()?;
                        }
                        continue 'value;
                    }
                }
                Some(b'"') => {
                    self.string()?;
                }
                _ => {
                    self.scalar()?;
                }
            }
            // After a value: close containers or go on to the next member or element.
            loop {
                let Some(is_object) = open.last() else {
                    return Ok(());
                };
                self.ws();
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        if is_object {
                            self.member_name()?;
                        }
                        continue 'value;
                    }
                    Some(b'}') if is_object => {
                        self.i += 1;
                        open.pop();
                    }
                    Some(b']') if !is_object => {
                        self.i += 1;
                        open.pop();
                    }
                    _ => return Err(self.err("expected ',' or the end of a container")),
                }
            }
        }
    }

    /// A member name and its `:`, skipped.
    fn member_name(&mut self) -> Result<(), JsonError> {
        self.ws();
        if self.peek() != Some(b'"') {
            return Err(self.err("expected a member name"));
        }
        self.string()?;
        self.expect(b':', "expected ':'")
    }
}

/// The containers [`Parser::skip`] has open, one bit each (set: an object), on the stack: a
/// body with nested values is skipped without allocating. [`MAX_DEPTH`] bounds it.
struct OpenStack {
    bits: [u64; MAX_DEPTH.div_ceil(64)],
    len: usize,
}

impl Default for OpenStack {
    fn default() -> Self {
        OpenStack {
            bits: [0; MAX_DEPTH.div_ceil(64)],
            len: 0,
        }
    }
}

impl OpenStack {
    fn len(&self) -> usize {
        self.len
    }

    /// Opens a container; the caller keeps the depth within [`MAX_DEPTH`].
    fn push(&mut self, is_object: bool) {
        let (word, bit) = (self.len / 64, self.len % 64);
        if is_object {
            self.bits[word] |= 1 << bit;
        } else {
            self.bits[word] &= !(1 << bit);
        }
        self.len += 1;
    }

    fn pop(&mut self) {
        self.len -= 1;
    }

    /// Whether the innermost open container is an object; `None` when none is open.
    fn last(&self) -> Option<bool> {
        let top = self.len.checked_sub(1)?;
        Some(self.bits[top / 64] >> (top % 64) & 1 == 1)
    }
}

#[cfg(test)]
mod tests;
