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
    // Branch-free over the whole token, so the loop vectorizes (a Keycloak token is ~1 KiB).
    let (bad, dots) = token.bytes().fold((false, 0u32), |(bad, dots), b| {
        let ok = b.is_ascii_alphanumeric() | (b == b'-') | (b == b'_') | (b == b'.');
        (bad | !ok, dots + u32::from(b == b'.'))
    });
    if bad {
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
