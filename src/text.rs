//! Untrusted text (paths, hosts, header values, request fields, token header values) shown in
//! deny messages and logs: one rule for clipping it, so no caller invents its own.

/// Which characters of untrusted text survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    /// Printable ASCII without spaces: safe as a bare `key=value` field of a text log line
    /// (paths, hosts, algorithm names).
    Graphic,
    /// Any character but control characters: for quoted values in messages (tenant ids, job
    /// types, names a client sent).
    Text,
}

/// At most `max` characters of `s` that `keep` allows, with `…` appended when anything was
/// dropped or cut, so a clipped value never passes for the whole one.
pub(crate) fn clip(s: &str, max: usize, keep: Keep) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
