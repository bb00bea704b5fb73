//! The realm's OAuth token endpoint, as Keycloak answers it: `POST <issuer>/protocol/openid-connect/token`
//! with the `client_credentials` grant (RFC 6749 §4.4), the client authenticated by
//! `client_id`/`client_secret` form fields or by HTTP Basic (§2.3.1), answered with a signed
//! Keycloak-shaped access token or Keycloak's error shape.
//!
//! This is what Camunda's clients (zbctl, the Java client, `@camunda8/sdk`, pyzeebe) call with
//! `ZEEBE_CLIENT_ID`, `ZEEBE_CLIENT_SECRET` and `ZEEBE_AUTHORIZATION_SERVER_URL`; they refresh by
//! calling it again before (or, zbctl, after) `expires_in`. The `audience` parameter they send
//! is ignored, as Keycloak ignores it: the audience comes from the realm.
//!
//! [`grant`] is the whole decision on the request's parts, without HTTP, so the rules are unit
//! tested; [`super::loopback`] adapts it to axum.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use super::{SigningKey, access_token_claims};

/// Keycloak's description for an unknown client and for a wrong secret alike (it does not tell
/// which, so client ids cannot be probed).
const INVALID_CLIENT: &str = "Invalid client or Invalid client credentials";
/// The grant this endpoint implements.
const CLIENT_CREDENTIALS: &str = "client_credentials";

/// A client registered at the token endpoint (a Keycloak confidential client with a service
/// account), and what its access tokens carry.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    /// `client_id` (also the token's `azp` and, as in Keycloak 26, `client_id`).
    pub id: String,
    /// `client_secret`.
    pub secret: String,
    /// Camunda Identity permissions, in `permissions.<audience>`.
    pub permissions: Vec<String>,
    /// Further claims of its tokens (the dev realm's `tenants`).
    pub extra_claims: Map<String, Value>,
}

/// What the token endpoint issues: to which clients, signed with which key, for which
/// audience, for how long.
#[derive(Debug, Clone)]
pub struct TokenEndpoint {
    /// The registered clients.
    pub clients: Arc<[OAuthClient]>,
    /// The key tokens are signed with (none: every request is refused as `invalid_client`).
    pub key: Option<Arc<SigningKey>>,
    /// The token's `aud`.
    pub audience: String,
    /// The token's lifetime (`expires_in`; Keycloak's default is 5 minutes).
    pub ttl: Duration,
}

impl TokenEndpoint {
    /// An endpoint with no clients: every request is answered `invalid_client`.
    pub fn without_clients() -> TokenEndpoint {
        TokenEndpoint {
            clients: Arc::new([]),
            key: None,
            audience: String::new(),
            ttl: Duration::from_secs(300),
        }
    }
}

/// A refused token request: HTTP status and the OAuth error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    /// 400, or 401 for a client that did not authenticate.
    pub status: u16,
    /// The OAuth `error` code.
    pub error: &'static str,
    /// The `error_description`.
    pub description: String,
    /// The client tried HTTP Basic: a 401 then carries `WWW-Authenticate: Basic`.
    pub basic: bool,
}

impl TokenError {
    fn new(status: u16, error: &'static str, description: impl Into<String>) -> TokenError {
        TokenError {
            status,
            error,
            description: description.into(),
            basic: false,
        }
    }

    /// The JSON body Keycloak sends.
    pub fn body(&self) -> Value {
        json!({"error": self.error, "error_description": self.description})
    }
}

/// An issued token: the client it went to and the response body.
#[derive(Debug)]
pub struct Issued {
    /// The authenticated client.
    pub client_id: String,
    /// `{"access_token", "expires_in", "token_type": "Bearer", …}`.
    pub body: Value,
}

/// Decides one token request from its `Authorization` header and its
/// `application/x-www-form-urlencoded` body, in Keycloak's order: the grant type first
/// (missing: `invalid_request`; another: `unsupported_grant_type`), then the client.
pub fn grant(
    endpoint: &TokenEndpoint,
    issuer: &str,
    authorization: Option<&str>,
    body: &[u8],
) -> Result<Issued, TokenError> {
    let mut form: Vec<(String, String)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (name, value) in form_urlencoded::parse(body) {
        if !seen.insert(name.clone()) {
            // RFC 6749 §3.2: request parameters must not be included more than once.
            return Err(TokenError::new(
                400,
                "invalid_request",
                format!("duplicated parameter: {name}"),
            ));
        }
        form.push((name.into_owned(), value.into_owned()));
    }
    let param = |name: &str| {
        form.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    match param("grant_type") {
        None | Some("") => {
            return Err(TokenError::new(
                400,
                "invalid_request",
                "Missing form parameter: grant_type",
            ));
        }
        Some(CLIENT_CREDENTIALS) => {}
        Some(_) => {
            return Err(TokenError::new(
                400,
                "unsupported_grant_type",
                "Unsupported grant_type",
            ));
        }
    }
    let (client_id, secret, basic) = client_credentials(authorization, &param)?;
    let refuse = |description: &str| TokenError {
        basic,
        ..TokenError::new(401, "invalid_client", description)
    };
    let client = endpoint
        .clients
        .iter()
        .find(|c| c.id == client_id)
        .ok_or_else(|| refuse(INVALID_CLIENT))?;
    let secret_matches = aws_lc_rs::constant_time::verify_slices_are_equal(
        client.secret.as_bytes(),
        secret.as_bytes(),
    )
    .is_ok();
    let key = endpoint.key.as_ref().filter(|_| secret_matches);
    let Some(key) = key else {
        return Err(refuse(INVALID_CLIENT));
    };
    let ttl = endpoint.ttl.as_secs().max(1);
    let permissions: Vec<&str> = client.permissions.iter().map(String::as_str).collect();
    let mut claims = access_token_claims(issuer, &endpoint.audience, &client.id, &permissions, ttl);
    if let Some(object) = claims.as_object_mut() {
        object.extend(client.extra_claims.clone());
    }
    let token = key
        .sign(&claims)
        .map_err(|_| TokenError::new(500, "server_error", "cannot sign the token"))?;
    Ok(Issued {
        client_id: client.id.clone(),
        body: json!({
            "access_token": token,
            "expires_in": ttl,
            "refresh_expires_in": 0,
            "token_type": "Bearer",
            "not-before-policy": 0,
            "scope": claims["scope"],
        }),
    })
}

/// The client's id and secret: HTTP Basic (both parts form-url-encoded, RFC 6749 §2.3.1) or
/// the `client_id` and `client_secret` fields, never both (§2.3: one method per request).
fn client_credentials<'a>(
    authorization: Option<&str>,
    param: &impl Fn(&str) -> Option<&'a str>,
) -> Result<(String, String, bool), TokenError> {
    let basic = authorization.and_then(|value| {
        let (scheme, rest) = value.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("basic").then(|| rest.trim())
    });
    let Some(encoded) = basic else {
        let Some(id) = param("client_id").filter(|id| !id.is_empty()) else {
            return Err(TokenError::new(
                401,
                "invalid_client",
                "Missing parameter: client_id",
            ));
        };
        return Ok((
            id.to_owned(),
            param("client_secret").unwrap_or_default().to_owned(),
            false,
        ));
    };
    let invalid_header = || TokenError {
        basic: true,
        ..TokenError::new(401, "invalid_client", "Invalid authorization header")
    };
    let decoded = STANDARD.decode(encoded).map_err(|_| invalid_header())?;
    let text = String::from_utf8(decoded).map_err(|_| invalid_header())?;
    let (id, secret) = text.split_once(':').ok_or_else(invalid_header)?;
    let unescape = |part: &str| -> String {
        form_urlencoded::parse(format!("v={part}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let (id, secret) = (unescape(id), unescape(secret));
    if param("client_secret").is_some() {
        return Err(TokenError::new(
            400,
            "invalid_request",
            "more than one client authentication method (HTTP Basic and client_secret)",
        ));
    }
    if param("client_id").is_some_and(|form_id| form_id != id) {
        return Err(TokenError {
            basic: true,
            ..TokenError::new(
                401,
                "invalid_client",
                "client_id does not match the authorization header",
            )
        });
    }
    Ok((id, secret, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "http://127.0.0.1:1/realms/dev";

    fn endpoint() -> TokenEndpoint {
        let mut extra = Map::new();
        extra.insert("tenants".into(), json!(["tenant-a"]));
        TokenEndpoint {
            clients: Arc::new([OAuthClient {
                id: "dev-tenant".into(),
                secret: "s3cr:t/+".into(),
                permissions: vec!["tenant:write".into()],
                extra_claims: extra,
            }]),
            key: Some(Arc::new(SigningKey::generate("k1").unwrap())),
            audience: "zeebe-api".into(),
            ttl: Duration::from_secs(5),
        }
    }

    fn claims_of(issued: &Issued) -> Value {
        let token = issued.body["access_token"].as_str().unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn form_credentials_get_a_keycloak_shaped_token() {
        let body = b"grant_type=client_credentials&client_id=dev-tenant&client_secret=s3cr%3At%2F%2B&audience=zeebe-api";
        let issued = grant(&endpoint(), ISSUER, None, body).unwrap();
        assert_eq!(issued.client_id, "dev-tenant");
        assert_eq!(issued.body["token_type"], "Bearer");
        assert_eq!(issued.body["expires_in"], 5);
        let claims = claims_of(&issued);
        assert_eq!(claims["iss"], ISSUER);
        // As Keycloak 26 writes it for an Identity realm: an array, `account` beside the API.
        assert_eq!(claims["aud"], json!(["zeebe-api", "account"]));
        assert_eq!(claims["client_id"], "dev-tenant");
        assert_eq!(claims["azp"], "dev-tenant");
        assert_eq!(claims["permissions"]["zeebe-api"], json!(["tenant:write"]));
        assert_eq!(claims["tenants"], json!(["tenant-a"]));
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            5
        );
    }

    #[test]
    fn basic_credentials_are_form_url_decoded() {
        // RFC 6749 §2.3.1: id and secret are form-url-encoded before Basic encoding.
        let header = format!("Basic {}", STANDARD.encode("dev-tenant:s3cr%3At%2F%2B"));
        let issued = grant(
            &endpoint(),
            ISSUER,
            Some(&header),
            b"grant_type=client_credentials",
        )
        .unwrap();
        assert_eq!(issued.client_id, "dev-tenant");
    }

    #[test]
    fn bad_client_credentials_are_invalid_client_401() {
        let cases: [(Option<String>, &[u8]); 5] = [
            (
                None,
                b"grant_type=client_credentials&client_id=dev-tenant&client_secret=wrong",
            ),
            (
                None,
                b"grant_type=client_credentials&client_id=nobody&client_secret=s3cr%3At%2F%2B",
            ),
            (None, b"grant_type=client_credentials&client_id=dev-tenant"),
            (None, b"grant_type=client_credentials"),
            (
                Some(format!("Basic {}", STANDARD.encode("dev-tenant:wrong"))),
                b"grant_type=client_credentials",
            ),
        ];
        for (header, body) in cases {
            let err = grant(&endpoint(), ISSUER, header.as_deref(), body).unwrap_err();
            assert_eq!((err.status, err.error), (401, "invalid_client"), "{err:?}");
            assert_eq!(err.basic, header.is_some());
            assert_eq!(err.body()["error"], "invalid_client");
        }
        let no_key = TokenEndpoint {
            key: None,
            ..endpoint()
        };
        let body =
            b"grant_type=client_credentials&client_id=dev-tenant&client_secret=s3cr%3At%2F%2B";
        assert_eq!(grant(&no_key, ISSUER, None, body).unwrap_err().status, 401);
    }

    #[test]
    fn grant_type_is_checked_before_the_client() {
        let err = grant(
            &endpoint(),
            ISSUER,
            None,
            b"grant_type=password&client_id=x",
        )
        .unwrap_err();
        assert_eq!((err.status, err.error), (400, "unsupported_grant_type"));
        let err = grant(&endpoint(), ISSUER, None, b"client_id=x").unwrap_err();
        assert_eq!((err.status, err.error), (400, "invalid_request"));
        assert_eq!(err.description, "Missing form parameter: grant_type");
    }

    #[test]
    fn malformed_requests_are_invalid_request() {
        let body = b"grant_type=client_credentials&grant_type=client_credentials";
        assert_eq!(
            grant(&endpoint(), ISSUER, None, body).unwrap_err().error,
            "invalid_request"
        );
        let header = format!("Basic {}", STANDARD.encode("dev-tenant:s3cr%3At%2F%2B"));
        let both = b"grant_type=client_credentials&client_secret=s3cr%3At%2F%2B";
        assert_eq!(
            grant(&endpoint(), ISSUER, Some(&header), both)
                .unwrap_err()
                .error,
            "invalid_request"
        );
        let other_id = b"grant_type=client_credentials&client_id=dev-worker";
        assert_eq!(
            grant(&endpoint(), ISSUER, Some(&header), other_id)
                .unwrap_err()
                .status,
            401
        );
        let garbage = grant(
            &endpoint(),
            ISSUER,
            Some("Basic %%%"),
            b"grant_type=client_credentials",
        )
        .unwrap_err();
        assert_eq!((garbage.status, garbage.basic), (401, true));
    }
}
