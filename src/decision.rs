//! Decisions and the one function that turns a decision into Envoy's `CheckResponse`.
//!
//! Every way a Check can end is a named [`Outcome`] with a fixed gRPC status, metrics label
//! and wording, so what a client sees, what `/metrics` counts and what the deny log says can
//! never disagree. A deny is always a `CheckResponse` (never a tonic error: Envoy treats an
//! error as an outage and, configured fail-open, would let the call through).

use std::borrow::Cow;
use std::sync::Arc;

use envoy_types::ext_authz::v3::pb::{
    CheckResponse, DeniedHttpResponse, HeaderAppendAction, HeaderValue, HeaderValueOption,
    HttpResponse, HttpStatus, OkHttpResponse,
};
use envoy_types::pb::google::rpc::Status;

use crate::catalog::Rpc;
use crate::token::Principal;

/// gRPC status codes we answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum GrpcCode {
    /// 0: allowed.
    Ok = 0,
    /// 7: valid token, not allowed.
    PermissionDenied = 7,
    /// 14: keys cannot be had.
    Unavailable = 14,
    /// 16: no valid token.
    Unauthenticated = 16,
}

impl GrpcCode {
    /// The HTTP status Envoy sends for this code; Envoy maps it back to the same gRPC status
    /// for gRPC clients (401 → 16, 403 → 7, 503 → 14).
    pub fn http_status(self) -> i32 {
        match self {
            GrpcCode::Ok => 200,
            GrpcCode::PermissionDenied => 403,
            GrpcCode::Unavailable => 503,
            GrpcCode::Unauthenticated => 401,
        }
    }
}

macro_rules! outcomes {
    ($($(#[$doc:meta])* $name:ident => ($code:ident, $label:literal),)*) => {
        /// Every way a Check ends.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Outcome { $($(#[$doc])* $name,)* }

        impl Outcome {
            /// All outcomes, in declaration order.
            pub const ALL: &'static [Outcome] = &[$(Outcome::$name,)*];
            /// How many outcomes there are.
            pub const COUNT: usize = Outcome::ALL.len();

            /// The gRPC status the client sees.
            pub fn code(self) -> GrpcCode {
                match self { $(Outcome::$name => GrpcCode::$code,)* }
            }

            /// The `reason` label in metrics and logs.
            pub fn reason(self) -> &'static str {
                match self { $(Outcome::$name => $label,)* }
            }
        }
    };
}

outcomes! {
    /// Allowed.
    Allow => (Ok, "allowed"),
    /// No `authorization` header.
    MissingToken => (Unauthenticated, "missing_token"),
    /// The header is not `Bearer <jwt>`.
    NotBearer => (Unauthenticated, "not_bearer"),
    /// The token exceeds the size limit.
    TokenTooLarge => (Unauthenticated, "token_too_large"),
    /// Not a JWT (segments, base64, JSON).
    MalformedToken => (Unauthenticated, "malformed_token"),
    /// `alg: none`, HMAC or an algorithm we do not verify.
    UnsupportedAlgorithm => (Unauthenticated, "unsupported_algorithm"),
    /// The header's `crit` names extensions (we support none: RFC 7515 §4.1.11).
    CriticalHeader => (Unauthenticated, "unsupported_crit"),
    /// The key named by `kid` has another algorithm than the token claims.
    AlgorithmMismatch => (Unauthenticated, "algorithm_mismatch"),
    /// No key of the realm has the token's `kid`, even after a refetch.
    UnknownKey => (Unauthenticated, "unknown_key"),
    /// The signature does not verify.
    BadSignature => (Unauthenticated, "bad_signature"),
    /// `exp` has passed.
    Expired => (Unauthenticated, "expired"),
    /// `nbf` or `iat` lies in the future.
    NotYetValid => (Unauthenticated, "not_yet_valid"),
    /// `iss` is not the realm's issuer.
    WrongIssuer => (Unauthenticated, "wrong_issuer"),
    /// `aud` meets none of the realm's audiences.
    WrongAudience => (Unauthenticated, "wrong_audience"),
    /// A required claim (`exp`, `iss`, `aud`) is missing or mistyped.
    InvalidClaims => (Unauthenticated, "invalid_claims"),
    /// The token is valid but no grant allows the rpc.
    MissingPermission => (PermissionDenied, "missing_permission"),
    /// A grant allows the rpc, but not for this request's content (tenant, job type, …).
    ConditionFailed => (PermissionDenied, "condition_failed"),
    /// The request body a condition needs is missing, partial or unreadable.
    BodyUnavailable => (PermissionDenied, "body_unavailable"),
    /// A method of the gateway service the catalog does not know.
    UnknownRpc => (PermissionDenied, "unknown_rpc"),
    /// A path of another service.
    OtherPath => (PermissionDenied, "other_path"),
    /// The request's host is protected by no realm.
    UnknownHost => (PermissionDenied, "unknown_host"),
    /// The realm's keys cannot be had (Keycloak unreachable, JWKS invalid).
    KeysUnavailable => (Unavailable, "keys_unavailable"),
    /// The token's key is not cached and no fetch ended before the Check's deadline.
    KeysTimeout => (Unavailable, "keys_timeout"),
}

impl Outcome {
    /// The position in [`Outcome::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The `result` label: `allow` or `deny`.
    pub fn result(self) -> &'static str {
        if self == Outcome::Allow {
            "allow"
        } else {
            "deny"
        }
    }
}

/// What a decision is counted under in metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathLabel {
    /// A known rpc.
    Rpc(Rpc),
    /// An unknown method of the gateway service.
    UnknownRpc,
    /// Another path.
    Other,
}

/// A deny: the outcome plus a short, token-free explanation for the client and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deny {
    /// Why.
    pub outcome: Outcome,
    /// The message the client sees in `grpc-message` (prefixed with `zeebe-authz: `).
    pub message: Cow<'static, str>,
}

impl Deny {
    /// A deny with a message.
    pub fn new(outcome: Outcome, message: impl Into<Cow<'static, str>>) -> Deny {
        debug_assert_ne!(outcome, Outcome::Allow);
        Deny {
            outcome,
            message: message.into(),
        }
    }
}

/// The end of a Check.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Allowed, on behalf of this principal of this realm.
    Allow {
        /// Who.
        principal: Arc<Principal>,
        /// The realm's name.
        realm: Arc<str>,
    },
    /// Denied.
    Deny(Deny),
}

impl Decision {
    /// The outcome (for metrics).
    pub fn outcome(&self) -> Outcome {
        match self {
            Decision::Allow { .. } => Outcome::Allow,
            Decision::Deny(d) => d.outcome,
        }
    }
}

/// The names of the identity headers added to allowed requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityHeaders {
    /// The token's `sub`.
    pub subject: Arc<str>,
    /// The token's `azp` (or `clientId`).
    pub client_id: Arc<str>,
    /// The realm's name.
    pub realm: Arc<str>,
}

impl Default for IdentityHeaders {
    fn default() -> Self {
        IdentityHeaders {
            subject: "x-zeebe-authz-subject".into(),
            client_id: "x-zeebe-authz-client-id".into(),
            realm: "x-zeebe-authz-realm".into(),
        }
    }
}

/// The prefix of every deny message, so a developer reading a client error knows who said no.
pub const MESSAGE_PREFIX: &str = "zeebe-authz: ";

/// Builds Envoy's answer. The only place a `CheckResponse` is made.
pub fn into_check_response(decision: &Decision, names: &IdentityHeaders) -> CheckResponse {
    match decision {
        Decision::Allow { principal, realm } => {
            let mut ok = OkHttpResponse::default();
            // Overwrite, so a client cannot smuggle its own identity headers to the gateway;
            // an empty value removes the header instead (Envoy drops empty values, which would
            // leave a smuggled one in place).
            for (name, value) in [
                (&names.subject, &*principal.subject),
                (&names.client_id, &*principal.client_id),
                (&names.realm, &**realm),
            ] {
                if value.is_empty() {
                    ok.headers_to_remove.push(name.to_string());
                } else {
                    // Token text may hold CR/LF or other bytes Envoy refuses in a header
                    // value (it would then fail the whole request): escape them.
                    ok.headers
                        .push(overwrite_header(name, &percent_encode_header_value(value)));
                }
            }
            CheckResponse {
                status: Some(Status {
                    code: GrpcCode::Ok as i32,
                    message: String::new(),
                    details: Vec::new(),
                }),
                http_response: Some(HttpResponse::OkResponse(ok)),
                ..Default::default()
            }
        }
        Decision::Deny(deny) => {
            let code = deny.outcome.code();
            let message = format!("{MESSAGE_PREFIX}{}", deny.message);
            let denied = DeniedHttpResponse {
                status: Some(HttpStatus {
                    code: code.http_status(),
                }),
                headers: vec![
                    overwrite_header("grpc-status", itoa(code as i32)),
                    overwrite_header("grpc-message", &percent_encode_grpc_message(&message)),
                    overwrite_header("content-type", "application/grpc"),
                ],
                body: String::new(),
            };
            CheckResponse {
                status: Some(Status {
                    code: code as i32,
                    message,
                    details: Vec::new(),
                }),
                http_response: Some(HttpResponse::DeniedResponse(denied)),
                ..Default::default()
            }
        }
    }
}

fn itoa(n: i32) -> &'static str {
    match n {
        7 => "7",
        14 => "14",
        16 => "16",
        _ => "2",
    }
}

fn overwrite_header(key: &str, value: &str) -> HeaderValueOption {
    #[allow(deprecated)]
    HeaderValueOption {
        header: Some(HeaderValue {
            key: key.to_string(),
            value: value.to_string(),
            raw_value: Vec::new(),
        }),
        append: None,
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
        keep_empty_value: false,
    }
}

/// `grpc-message` is percent-encoded (gRPC over HTTP/2 spec): bytes outside printable ASCII
/// and `%` itself are escaped.
pub fn percent_encode_grpc_message(message: &str) -> Cow<'_, str> {
    percent_encode(message, |_, b| (0x20..=0x7e).contains(&b) && b != b'%')
}

/// An identity header value from token text (`sub`, `azp`), as a valid HTTP field value
/// (RFC 9110 §5.5): the bytes `grpc-message` escapes (controls such as CR, LF, NUL and TAB,
/// DEL, non-ASCII, `%`) and a space at either end (Envoy would trim it, so ` alice` and `alice`
/// would reach the gateway as one subject) are percent-encoded. Escaping rather than dropping
/// keeps distinct subjects distinct, and the value decodes back exactly. Borrowed when clean.
pub fn percent_encode_header_value(value: &str) -> Cow<'_, str> {
    let last = value.len().wrapping_sub(1);
    percent_encode(value, |i, b| {
        (0x21..=0x7e).contains(&b) && b != b'%' || (b == b' ' && i != 0 && i != last)
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_the_status_the_issue_requires() {
        for o in Outcome::ALL {
            let expected = match o.reason() {
                "allowed" => GrpcCode::Ok,
                "missing_permission" | "condition_failed" | "body_unavailable" | "unknown_rpc"
                | "other_path" | "unknown_host" => GrpcCode::PermissionDenied,
                "keys_unavailable" | "keys_timeout" => GrpcCode::Unavailable,
                _ => GrpcCode::Unauthenticated,
            };
            assert_eq!(o.code(), expected, "{o:?}");
        }
        assert_eq!(Outcome::ALL[Outcome::Expired.index()], Outcome::Expired);
    }

    #[test]
    fn header_values_from_tokens_go_out_unsanitized() {
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
        }
        assert!(matches!(
            percent_encode_header_value("service-account-zeebe"),
            Cow::Borrowed(_)
        ));
        let principal = Arc::new(Principal {
            subject: "alice\r\nx-injected: 1".into(),
            client_id: "zeebe".into(),
            grants: Default::default(),
            tenants: Default::default(),
            expires_at: 0,
        });
        let r = into_check_response(
            &Decision::Allow {
                principal,
                realm: "camunda".into(),
            },
            &IdentityHeaders::default(),
        );
        let Some(HttpResponse::OkResponse(ok)) = r.http_response else {
            panic!("not allowed")
        };
        for h in &ok.headers {
            let v = &h.header.as_ref().unwrap().value;
            assert!(v.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{v:?}");
        }
    }

    #[test]
    fn deny_sets_http_status_grpc_headers_and_message() {
        let d = Decision::Deny(Deny::new(Outcome::Expired, "token expired"));
        let r = into_check_response(&d, &IdentityHeaders::default());
        assert_eq!(r.status.as_ref().unwrap().code, 16);
        let Some(HttpResponse::DeniedResponse(denied)) = r.http_response else {
            panic!("not denied")
        };
        assert_eq!(denied.status.unwrap().code, 401);
        let get = |k: &str| {
            denied
                .headers
                .iter()
                .find(|h| h.header.as_ref().unwrap().key == k)
                .unwrap()
                .header
                .clone()
                .unwrap()
                .value
        };
        assert_eq!(get("grpc-status"), "16");
        assert_eq!(get("grpc-message"), "zeebe-authz: token expired");
    }

    #[test]
    fn grpc_message_is_percent_encoded() {
        assert_eq!(percent_encode_grpc_message("ok text"), "ok text");
        assert_eq!(percent_encode_grpc_message("100% ü\n"), "100%25 %C3%BC%0A");
    }
}
