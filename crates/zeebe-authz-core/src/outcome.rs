//! The vocabulary of a Check's end: every way a Check can end is a named [`Outcome`] with a
//! fixed gRPC status, metrics label and wording, so what a client sees, what `/metrics` counts
//! and what the deny log says can never disagree. Pure: no Envoy types (those are the
//! server's Envoy edge).

use std::borrow::Cow;

use crate::catalog::{Rpc, is_grpc_content_type};

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

    /// The code's name (`PERMISSION_DENIED`), as gRPC clients print it.
    pub fn name(self) -> &'static str {
        match self {
            GrpcCode::Ok => "OK",
            GrpcCode::PermissionDenied => "PERMISSION_DENIED",
            GrpcCode::Unavailable => "UNAVAILABLE",
            GrpcCode::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    /// The code as the decimal text of a `grpc-status` header.
    pub fn as_str(self) -> &'static str {
        match self {
            GrpcCode::Ok => "0",
            GrpcCode::PermissionDenied => "7",
            GrpcCode::Unavailable => "14",
            GrpcCode::Unauthenticated => "16",
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
    /// The token is typed as another kind than an access token (`typ` ID, Refresh, Logout, …),
    /// or carries no type where the realm requires one.
    WrongTokenType => (Unauthenticated, "wrong_token_type"),
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

/// Whether a realm's denies are enforced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RealmMode {
    /// A deny is a deny.
    #[default]
    Enforce,
    /// Every Check is allowed; the decision that would have been taken is logged, counted and
    /// returned as dynamic metadata (`dry_run: true`), for rolling a policy out.
    DryRun,
}

impl RealmMode {
    /// The name in the config file and in metrics (`enforce`, `dry-run`).
    pub fn as_str(self) -> &'static str {
        match self {
            RealmMode::Enforce => "enforce",
            RealmMode::DryRun => "dry-run",
        }
    }
}

/// What a decision is counted under in metrics: the door and the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathLabel {
    /// A known rpc, through the gRPC door.
    Rpc(Rpc),
    /// An unknown method of the gateway service.
    UnknownRpc,
    /// Another path.
    Other,
    /// An operation (an rpc's twin or a REST-only operation), through the REST door.
    RestOperation(Rpc),
    /// A path under the REST base path that is no route, or that may be routed otherwise.
    RestUnknown,
}

impl PathLabel {
    /// The `rpc` label of metrics, logs and Envoy's dynamic metadata: the operation's name
    /// (the same for an rpc and its REST twin; the `door` label tells them apart).
    pub fn as_str(self) -> &'static str {
        match self {
            PathLabel::Rpc(rpc) | PathLabel::RestOperation(rpc) => rpc.name(),
            PathLabel::UnknownRpc => "(unknown rpc)",
            PathLabel::Other => "(other path)",
            PathLabel::RestUnknown => "(unknown operation)",
        }
    }

    /// The `door` label: `grpc`, `rest`, or `other` for a path of neither.
    pub fn door(self) -> &'static str {
        match self {
            PathLabel::Rpc(_) | PathLabel::UnknownRpc => "grpc",
            PathLabel::RestOperation(_) | PathLabel::RestUnknown => "rest",
            PathLabel::Other => "other",
        }
    }

    /// Whether a deny of this request is answered as HTTP problem details rather than in gRPC
    /// form (`grpc-status`, `grpc-message`). By the door where the path says it: the REST
    /// door's always, the gateway service's never. Another path may come through either port
    /// (Operate's `/v1`, actuator and the web applications beside `/v2`; gRPC health beside
    /// the gateway service), so the request says it: a gRPC call (`content-type:
    /// application/grpc…`, see [`is_grpc_content_type`]) gets the gRPC form, any other
    /// request the HTTP one.
    pub fn answered_as_problem(self, content_type: Option<&str>) -> bool {
        match self {
            PathLabel::RestOperation(_) | PathLabel::RestUnknown => true,
            PathLabel::Rpc(_) | PathLabel::UnknownRpc => false,
            PathLabel::Other => !is_grpc_content_type(content_type),
        }
    }
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

/// The prefix of every deny message, so a developer reading a client error knows who said no.
pub const MESSAGE_PREFIX: &str = "zeebe-authz: ";

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
        for code in [
            GrpcCode::Ok,
            GrpcCode::PermissionDenied,
            GrpcCode::Unavailable,
            GrpcCode::Unauthenticated,
        ] {
            assert_eq!(code.as_str(), (code as i32).to_string());
        }
    }

    #[test]
    fn the_form_of_a_deny_follows_the_door_then_the_request() {
        let rpc = Rpc::from_grpc_name("Topology").unwrap();
        for content_type in [None, Some("application/json"), Some("application/grpc")] {
            assert!(PathLabel::RestOperation(rpc).answered_as_problem(content_type));
            assert!(PathLabel::RestUnknown.answered_as_problem(content_type));
            assert!(!PathLabel::Rpc(rpc).answered_as_problem(content_type));
            assert!(!PathLabel::UnknownRpc.answered_as_problem(content_type));
        }
        for grpc in [
            "application/grpc",
            "application/grpc+proto",
            "Application/GRPC;charset=utf-8",
            " application/grpc",
        ] {
            assert!(!PathLabel::Other.answered_as_problem(Some(grpc)), "{grpc}");
        }
        for http in [
            "",
            "application/json",
            "text/html",
            "application/grpc-web",
            "application/grpcx",
            "application/problem+json",
        ] {
            assert!(PathLabel::Other.answered_as_problem(Some(http)), "{http}");
        }
        assert!(PathLabel::Other.answered_as_problem(None));
    }
}
