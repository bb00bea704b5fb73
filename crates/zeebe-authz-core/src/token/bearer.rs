//! Taking the bearer token out of the `authorization` header.

use crate::outcome::{Deny, Outcome};

/// The default token size limit. Keycloak tokens with many roles reach a few KiB; anything far
/// larger is not a Keycloak access token and is refused before it costs a parse.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Returns the token of a `Bearer` header (scheme case-insensitive, RFC 6750) after checking its
/// size. Its shape is checked by [`check_jwt_shape`] only on a cache miss: a cached token was
/// verified before, and scanning ~1 KiB of characters on every Check cost more than the rest of
/// a cached decision together.
pub fn bearer_token(header: Option<&str>, max_bytes: usize) -> Result<&str, Deny> {
    let Some(header) = header else {
        return Err(Deny::new(
            Outcome::MissingToken,
            "missing bearer token (authorization header)",
        ));
    };
    let token = match plain_bearer(header) {
        Some(token) => token,
        None => general_bearer(header)?,
    };
    within(token, max_bytes)
}

/// The rule: the header trimmed, a scheme of `Bearer` in any case, one space, then the token
/// (leading whitespace skipped).
fn general_bearer(header: &str) -> Result<&str, Deny> {
    let header = header.trim();
    let (scheme, token) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Deny::new(
            Outcome::NotBearer,
            "authorization header is not a Bearer token",
        ));
    }
    let token = token.trim_start();
    if token.is_empty() {
        return Err(Deny::new(Outcome::MissingToken, "empty bearer token"));
    }
    Ok(token)
}

/// The token of the usual header, `Bearer <token>` (any case) with nothing to trim at either
/// end: what [`general_bearer`] finds, without its trimming and searching.
fn plain_bearer(header: &str) -> Option<&str> {
    let bytes = header.as_bytes();
    let visible = |b: u8| b.is_ascii() && !char::from(b).is_whitespace();
    (bytes.len() > 7
        && bytes[..6].eq_ignore_ascii_case(b"bearer")
        && bytes[6] == b' '
        && visible(bytes[7])
        && visible(bytes[bytes.len() - 1]))
    .then(|| &header[7..])
}

/// `token` unless it is larger than `max_bytes`.
fn within(token: &str, max_bytes: usize) -> Result<&str, Deny> {
    if token.len() > max_bytes {
        return Err(Deny::new(
            Outcome::TokenTooLarge,
            format!("token larger than {max_bytes} bytes"),
        ));
    }
    Ok(token)
}

/// Checks that `token` has the shape of a compact JWS: three base64url segments.
pub fn check_jwt_shape(token: &str) -> Result<(), Deny> {
    // Branch-free over the whole token, with byte-wide counters in chunks of 128, so the loop
    // vectorizes (a Keycloak token is ~1 KiB; a fold with `is_ascii_alphanumeric` and a u32
    // count did not, and cost 9 instructions a byte).
    let (mut bad, mut dots) = (0u8, 0u32);
    for chunk in token.as_bytes().chunks(128) {
        let mut chunk_dots = 0u8;
        for &b in chunk {
            let letter = (b | 0x20).wrapping_sub(b'a') < 26;
            let digit = b.wrapping_sub(b'0') < 10;
            let dot = b == b'.';
            bad |= u8::from(!(letter | digit | dot | (b == b'-') | (b == b'_')));
            chunk_dots += u8::from(dot);
        }
        dots += u32::from(chunk_dots);
    }
    if bad != 0 {
        return Err(Deny::new(
            Outcome::MalformedToken,
            "token is not a JWT (invalid characters)",
        ));
    }
    if dots != 2 {
        return Err(Deny::new(
            Outcome::MalformedToken,
            "token is not a JWT (expected three segments)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The vectorized shape check says what the plain rule says, for any text (long
        /// enough for several chunks, with dots and the bytes around each character class).
        #[test]
        fn jwt_shape_is_the_plain_rule(token in "[a-zA-Z0-9._\\-@\\[`{/:+= \\x00-\\x7fé]{0,400}") {
            let bad = !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            let dots = token.bytes().filter(|&b| b == b'.').count();
            let expected = if bad {
                Err("token is not a JWT (invalid characters)")
            } else if dots != 2 {
                Err("token is not a JWT (expected three segments)")
            } else {
                Ok(())
            };
            let found = check_jwt_shape(&token).map_err(|d| d.message.into_owned());
            prop_assert_eq!(found, expected.map_err(str::to_owned));
        }

        /// With its fast path, `bearer_token` answers what the general rule alone answers:
        /// the same token, or the same refusal. Half the headers are the usual `Bearer
        /// <token>` (the fast path's), the rest the odd ones around it (other schemes, no
        /// token, whitespace of every kind at either end and inside).
        #[test]
        fn bearer_headers_read_as_the_general_rule_says(
            header in prop_oneof![
                "[bB][eE][aA][rR][eE][rR] [a-zA-Z0-9._\\-]{1,40}",
                "([bB][eE][aA][rR][eE][rR]|Basic|bearerx)?[ \\t\\x0b\\x0c\\r\\n\\u{a0}\\u{2003}]{0,2}[a-z.é \\t\\x0b]{0,12}[ \\t\\u{a0}]?",
            ],
            max_bytes in prop_oneof![Just(DEFAULT_MAX_TOKEN_BYTES), 0..20usize],
        ) {
            fn outcome(r: Result<&str, Deny>) -> Result<&str, (Outcome, String)> {
                r.map_err(|d| (d.outcome, d.message.into_owned()))
            }
            if let Some(token) = plain_bearer(&header) {
                prop_assert_eq!(general_bearer(&header).ok(), Some(token));
            }
            prop_assert_eq!(
                outcome(bearer_token(Some(&header), max_bytes)),
                outcome(general_bearer(&header).and_then(|t| within(t, max_bytes)))
            );
        }

        #[test]
        fn three_base64url_segments_are_a_jwt_shape(
            segments in proptest::collection::vec("[a-zA-Z0-9_\\-]{0,300}", 3),
        ) {
            prop_assert!(check_jwt_shape(&segments.join(".")).is_ok());
        }
    }

    #[test]
    fn scheme_is_case_insensitive() {
        for h in [
            "Bearer a.b.c",
            "bearer a.b.c",
            "BEARER  a.b.c",
            " Bearer a.b.c ",
        ] {
            assert_eq!(bearer_token(Some(h), 100).unwrap(), "a.b.c", "{h}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_bearer_jwt() {
        let cases = [
            (None, Outcome::MissingToken),
            (Some("Bearer"), Outcome::MissingToken),
            (Some("Bearer "), Outcome::MissingToken),
            (Some("Basic dXNlcjpwdw=="), Outcome::NotBearer),
            (Some("Bearerx a.b.c"), Outcome::NotBearer),
            (Some("Bearer abc"), Outcome::MalformedToken),
            (Some("Bearer a.b"), Outcome::MalformedToken),
            (Some("Bearer a.b.c.d"), Outcome::MalformedToken),
            (Some("Bearer a.b+c.d"), Outcome::MalformedToken),
            (Some("Bearer a.b c"), Outcome::MalformedToken),
        ];
        for (h, outcome) in cases {
            let found = bearer_token(h, 100).and_then(|t| check_jwt_shape(t).map(|()| t));
            assert_eq!(found.unwrap_err().outcome, outcome, "{h:?}");
        }
        let big = format!("Bearer {}.b.c", "a".repeat(200));
        assert_eq!(
            bearer_token(Some(&big), 100).unwrap_err().outcome,
            Outcome::TokenTooLarge
        );
    }
}
