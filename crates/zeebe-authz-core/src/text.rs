//! Untrusted text (paths, hosts, header values, request fields, token header values) shown in
//! deny messages and logs: one rule for clipping it, so no caller invents its own; and the one
//! rule for sending token or config text in a response header ([`HeaderText`],
//! [`percent_encode_header_value`], [`percent_encode_grpc_message`]).

use std::borrow::Cow;
use std::ops::Deref;

/// Which characters of untrusted text survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Printable ASCII without spaces: safe as a bare `key=value` field of a text log line
    /// (paths, hosts, algorithm names).
    Graphic,
    /// Any character but control characters: for quoted values in messages (tenant ids, job
    /// types, names a client sent).
    Text,
}

/// At most `max` characters of `s` that `keep` allows, with `…` appended when anything was
/// dropped or cut, so a clipped value never passes for the whole one.
pub fn clip(s: &str, max: usize, keep: Keep) -> String {
    let allowed = |c: &char| match keep {
        Keep::Graphic => c.is_ascii_graphic(),
        Keep::Text => !c.is_control(),
    };
    let mut out = String::with_capacity(s.len().min(max + 3));
    let mut complete = true;
    let mut kept = 0;
    for c in s.chars() {
        if !allowed(&c) {
            complete = false;
        } else if kept == max {
            complete = false;
            break;
        } else {
            out.push(c);
            kept += 1;
        }
    }
    if !complete {
        out.push('…');
    }
    out
}

/// `grpc-message` is percent-encoded (gRPC over HTTP/2 spec): bytes outside printable ASCII
/// and `%` itself are escaped.
pub fn percent_encode_grpc_message(message: &str) -> Cow<'_, str> {
    percent_encode(message, |_, b| (0x20..=0x7e).contains(&b) && b != b'%')
}

/// An identity header value from token text (`sub`, `azp`) or a realm's name, as a valid HTTP
/// field value (RFC 9110 §5.5): the bytes `grpc-message` escapes (controls such as CR, LF, NUL
/// and TAB, DEL, non-ASCII, `%`) and a space at either end (Envoy would trim it, so ` alice`
/// and `alice` would reach the gateway as one subject) are percent-encoded. Escaping rather
/// than dropping keeps distinct subjects distinct, and the value decodes back exactly.
/// Borrowed when clean. The hot path does not call this: [`HeaderText`] keeps its result.
pub fn percent_encode_header_value(value: &str) -> Cow<'_, str> {
    // The usual id (visible ASCII, no `%`, no space) in one branch-free pass that vectorizes;
    // anything else takes the byte-by-byte rule.
    let visible = value.bytes().fold(true, |ok, b| {
        ok & (b.wrapping_sub(0x21) < 0x7f - 0x21) & (b != b'%')
    });
    if visible {
        return Cow::Borrowed(value);
    }
    let last = value.len().wrapping_sub(1);
    percent_encode(value, |i, b| header_value_keeps(i, last, b))
}

/// The byte rule of [`percent_encode_header_value`]: whether byte `b` at index `i` of a value
/// whose last index is `last` goes out as it is.
fn header_value_keeps(i: usize, last: usize, b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && b != b'%' || (b == b' ' && i != 0 && i != last)
}

fn percent_encode(text: &str, keep: impl Fn(usize, u8) -> bool) -> Cow<'_, str> {
    if text.bytes().enumerate().all(|(i, b)| keep(i, b)) {
        return Cow::Borrowed(text);
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len() + 8);
    for (i, b) in text.bytes().enumerate() {
        if keep(i, b) {
            out.push(b as char);
        } else {
            out.extend([
                '%',
                HEX[usize::from(b >> 4)] as char,
                HEX[usize::from(b & 15)] as char,
            ]);
        }
    }
    Cow::Owned(out)
}

/// Text that may go out as an identity header value (a token's subject or client id, a
/// realm's name), escaped once when it is made ([`percent_encode_header_value`]), so an allow
/// on the hot path writes the header without looking at its bytes again. Reads as the text
/// itself (`Deref<Target = str>`); [`HeaderText::header_value`] is the form a header carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeaderText {
    text: Box<str>,
    /// The escaped form, when it differs from `text` (rare: ids are visible ASCII).
    escaped: Option<Box<str>>,
}

impl HeaderText {
    /// The text as it is.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The text as a header value: `percent_encode_header_value(self.as_str())`, computed when
    /// the text was made.
    pub fn header_value(&self) -> &str {
        self.escaped.as_deref().unwrap_or(&self.text)
    }

    /// The bytes it holds on the heap (the text and its escaped form).
    pub fn heap_bytes(&self) -> usize {
        self.text.len() + self.escaped.as_ref().map_or(0, |e| e.len())
    }
}

impl From<&str> for HeaderText {
    fn from(text: &str) -> HeaderText {
        let escaped = match percent_encode_header_value(text) {
            Cow::Borrowed(_) => None,
            Cow::Owned(escaped) => Some(escaped.into_boxed_str()),
        };
        HeaderText {
            text: text.into(),
            escaped,
        }
    }
}

impl Deref for HeaderText {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl AsRef<str> for HeaderText {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Display for HeaderText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq<str> for HeaderText {
    fn eq(&self, other: &str) -> bool {
        *self.text == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The fast path for visible ASCII gives what the byte-by-byte rule gives.
        #[test]
        fn header_values_encode_as_the_byte_rule_says(value in "(.|[ %\\x00-\\x7f]){0,80}") {
            let last = value.len().wrapping_sub(1);
            let by_byte = percent_encode(&value, |i, b| header_value_keeps(i, last, b));
            proptest::prop_assert_eq!(percent_encode_header_value(&value), by_byte);
        }

        /// The header form kept with the text is the one escaping at answer time would give.
        #[test]
        fn header_text_keeps_what_escaping_gives(value in "(.|[ %\\x00-\\x7f]|[a-z0-9-]{1,20}){0,40}") {
            let text = HeaderText::from(value.as_str());
            proptest::prop_assert_eq!(text.as_str(), value.as_str());
            proptest::prop_assert_eq!(text.header_value(), &*percent_encode_header_value(&value));
            proptest::prop_assert_eq!(text.escaped.is_none(), text.header_value() == value);
        }
    }

    #[test]
    fn header_values_from_tokens_are_escaped() {
        // Regression: `sub` with CR/LF reached Envoy verbatim, which then refused our answer.
        for (raw, sent) in [
            ("alice", "alice"),
            ("alice smith", "alice smith"),
            ("alice\r\nx-injected: 1", "alice%0D%0Ax-injected: 1"),
            ("a\0b\tc\x7f", "a%00b%09c%7F"),
            (" alice ", "%20alice%20"),
            (" ", "%20"),
            ("100%", "100%25"),
            ("J\u{f6}rg", "J%C3%B6rg"),
        ] {
            assert_eq!(percent_encode_header_value(raw), sent, "{raw:?}");
            assert_eq!(HeaderText::from(raw).header_value(), sent, "{raw:?}");
        }
        assert!(matches!(
            percent_encode_header_value("service-account-zeebe"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn grpc_message_is_percent_encoded() {
        assert_eq!(percent_encode_grpc_message("ok text"), "ok text");
        assert_eq!(
            percent_encode_grpc_message("100% \u{fc}\n"),
            "100%25 %C3%BC%0A"
        );
    }

    #[test]
    fn clipping_drops_what_keep_refuses_caps_and_marks_it() {
        assert_eq!(
            clip("/gateway_protocol.Gateway/Topology", 64, Keep::Graphic),
            "/gateway_protocol.Gateway/Topology"
        );
        assert_eq!(clip("a b\r\nc", 64, Keep::Graphic), "abc…");
        assert_eq!(clip("tenant b\u{0}", 64, Keep::Text), "tenant b…");
        assert_eq!(clip("J\u{f6}rg", 64, Keep::Text), "J\u{f6}rg");
        assert_eq!(clip("J\u{f6}rg", 64, Keep::Graphic), "Jrg…");
        assert_eq!(
            clip(&"x".repeat(70), 64, Keep::Text),
            format!("{}…", "x".repeat(64))
        );
        assert_eq!(clip(&"x".repeat(64), 64, Keep::Text), "x".repeat(64));
        assert_eq!(clip("", 64, Keep::Text), "");
    }
}
