//! The one normalization of a request's `:authority` (and of the hosts a config lists), so that
//! every spelling of a host reaches the same realm.
//!
//! DNS names compare case-insensitively, and `zeebe.example.` (the fully qualified form with
//! its trailing root dot) is the same host as `zeebe.example`: Envoy forwards the authority as
//! the client wrote it unless `strip_trailing_host_dot` is set, so the authorizer must not let
//! the dot pick another realm (or none). A port is kept apart: a config may claim `gw:26500`
//! for one realm and `gw` for every other port. IP literals take their one text form: an IPv6
//! literal that of RFC 5952 (`[FD00:0:0:0:0:0:0:1]` → `[fd00::1]`, `[::FFFF:a00:1]` →
//! `[::ffff:10.0.0.1]`, a bare `::1` → `[::1]`), as `core::net::Ipv6Addr` prints it; Envoy forwards
//! the authority as written, so `[fd00:0::1]` must not slip past the realm of `[fd00::1]` to
//! the `*` realm. Pure, and allocation-free for an authority that is already in normal form
//! (lower case, no trailing dot, canonical literals).

use std::borrow::Cow;

/// An authority split into its host name (normalized) and port, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority<'a> {
    /// Lower case, one trailing dot removed; IPv6 literals keep their brackets.
    pub name: Cow<'a, str>,
    /// The digits after the last `:` (none for `host` or `[::1]`).
    pub port: Option<&'a str>,
}

impl<'a> Authority<'a> {
    /// Splits and normalizes an authority (`Zeebe.Example.:26500` → `zeebe.example`, `26500`).
    pub fn parse(authority: &'a str) -> Authority<'a> {
        let (name, port) = split_port(authority);
        let name = name
            .strip_suffix('.')
            .filter(|n| !n.is_empty())
            .unwrap_or(name);
        let name = if let Some(literal) = canonical_ipv6(name) {
            literal
        } else if name.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(name.to_ascii_lowercase())
        } else {
            Cow::Borrowed(name)
        };
        Authority { name, port }
    }

    /// The normal form as one string: `name` or `name:port`. Borrows from `authority` when it
    /// was already normal.
    pub fn joined(&self, authority: &'a str) -> Cow<'a, str> {
        match (self.port, &self.name) {
            (None, name) => name.clone(),
            (Some(port), Cow::Borrowed(name)) if authority.len() == name.len() + 1 + port.len() => {
                Cow::Borrowed(authority)
            }
            (Some(port), name) => Cow::Owned(format!("{name}:{port}")),
        }
    }
}

/// An IPv6 literal (`[v6]`, or bare `v6` as a careless config or client writes it) in its
/// RFC 5952 form with brackets; `None` for anything else (names, IPv4, a zone id).
fn canonical_ipv6(name: &str) -> Option<Cow<'_, str>> {
    let inner = match name.strip_prefix('[') {
        Some(rest) => rest.strip_suffix(']')?,
        None if name.contains(':') => name,
        None => return None,
    };
    let addr: core::net::Ipv6Addr = inner.parse().ok()?;
    let canonical = format!("[{addr}]");
    Some(if canonical == name {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(canonical)
    })
}

/// The normal form of a host as a config lists it (`Zeebe.Example.` → `zeebe.example`).
pub(crate) fn normalize(host: &str) -> String {
    Authority::parse(host).joined(host).into_owned()
}

/// `name:digits` → (`name`, digits); `[v6]:digits` → (`[v6]`, digits); otherwise no port.
/// An empty port (`host:`) is dropped, as RFC 3986 allows.
fn split_port(authority: &str) -> (&str, Option<&str>) {
    let Some((name, port)) = authority.rsplit_once(':') else {
        return (authority, None);
    };
    // `[v6].:port`: the trailing dot a careless client adds goes with the name.
    let bracketed = name.starts_with('[') && (name.ends_with(']') || name.ends_with("]."));
    if name.is_empty() || (name.contains(':') && !bracketed) {
        // A bare IPv6 literal (`::1`) has no port.
        return (authority, None);
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return (authority, None);
    }
    (name, (!port.is_empty()).then_some(port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(a: &str) -> (String, Option<&str>) {
        let p = Authority::parse(a);
        (p.name.into_owned(), p.port)
    }

    #[test]
    fn trailing_dot_case_and_port_are_normalized() {
        assert_eq!(parts("zeebe.a.example"), ("zeebe.a.example".into(), None));
        assert_eq!(parts("zeebe.a.example."), ("zeebe.a.example".into(), None));
        assert_eq!(
            parts("ZEEBE.A.Example.:26500"),
            ("zeebe.a.example".into(), Some("26500"))
        );
        assert_eq!(parts("gw:"), ("gw".into(), None));
        assert_eq!(parts("[::1]:26500"), ("[::1]".into(), Some("26500")));
        assert_eq!(parts("[::1]"), ("[::1]".into(), None));
        assert_eq!(parts("::1"), ("[::1]".into(), None));
        assert_eq!(parts("."), (".".into(), None));
        // Only one dot: `a..` is not `a`.
        assert_eq!(parts("a.."), ("a.".into(), None));
    }

    #[test]
    fn normal_authorities_are_borrowed() {
        for a in ["zeebe.a.example", "zeebe.a.example:26500", "[::1]:1"] {
            assert!(matches!(
                Authority::parse(a).joined(a),
                Cow::Borrowed(s) if s == a
            ));
        }
        assert_eq!(normalize("Zeebe.Example.:26500"), "zeebe.example:26500");
        assert_eq!(normalize("zeebe.example."), "zeebe.example");
        assert_eq!(normalize("*"), "*");
    }

    #[test]
    fn ipv6_literals_take_their_rfc_5952_form() {
        for (spelled, canonical) in [
            ("[fd00:0:0:0:0:0:0:1]", "[fd00::1]"),
            ("[FD00::0001]", "[fd00::1]"),
            ("[fd00:0::0:1].", "[fd00::1]"),
            ("[2001:db8:0:0:1:0:0:1]", "[2001:db8::1:0:0:1]"),
            ("[::FFFF:a00:1]", "[::ffff:10.0.0.1]"),
            ("[0:0:0:0:0:0:0:1]", "[::1]"),
            ("::1", "[::1]"),
        ] {
            assert_eq!(parts(spelled), (canonical.into(), None), "{spelled}");
        }
        assert_eq!(normalize("[FD00::1]:26500"), "[fd00::1]:26500");
        // Not a v6 literal: kept as written (lower case).
        assert_eq!(parts("[fe80::1%25eth0]"), ("[fe80::1%25eth0]".into(), None));
        assert_eq!(parts("[zz]"), ("[zz]".into(), None));
        assert_eq!(parts("10.0.0.1:1"), ("10.0.0.1".into(), Some("1")));
    }

    proptest::proptest! {
        /// Every spelling of an address (case, zero runs compressed or not, leading zeros, a
        /// port, a trailing dot) has the normal form of the canonical one.
        #[test]
        fn every_spelling_of_an_ipv6_literal_normalizes_alike(
            segments in proptest::array::uniform8(proptest::prop_oneof![
                3 => proptest::strategy::Just(0u16),
                1 => 0u16..=u16::MAX,
            ]),
            upper: bool,
            pad: bool,
            dot: bool,
            port in proptest::option::of(1u16..=u16::MAX),
        ) {
            let addr = std::net::Ipv6Addr::from(segments);
            let canonical = format!("[{addr}]");
            // A spelling with every group written out, perhaps zero-padded and upper case.
            let long: Vec<String> = segments
                .iter()
                .map(|s| if pad { format!("{s:04x}") } else { format!("{s:x}") })
                .collect();
            let mut spelled = format!("[{}]", long.join(":"));
            if upper {
                spelled = spelled.to_ascii_uppercase();
            }
            if dot {
                spelled.push('.');
            }
            let port_text = port.map(|p| format!(":{p}")).unwrap_or_default();
            let with_port = format!("{spelled}{port_text}");
            proptest::prop_assert_eq!(normalize(&with_port), format!("{canonical}{port_text}"));
            // The canonical form is its own normal form, borrowed.
            let c = format!("{canonical}{port_text}");
            proptest::prop_assert!(matches!(Authority::parse(&c).joined(&c), Cow::Borrowed(_)));
        }
    }
}
