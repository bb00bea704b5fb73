//! A Check's decision: allow on behalf of a principal, or deny with an `Outcome`; the
//! [`Verdict`] around it (decision id, realm mode, what Envoy is told); and the names of the
//! identity headers an allow adds. Pure: the server's Envoy edge turns a verdict into Envoy's
//! `CheckResponse`.

use std::sync::Arc;

use crate::outcome::{Deny, GrpcCode, MESSAGE_PREFIX, Outcome, PathLabel};
use crate::text::HeaderText;
use crate::token::Principal;

/// The id of one decision: in the deny message, the log line and Envoy's dynamic metadata,
/// so a refused client, an access log line and the authorizer's log can be tied together.
///
/// Held inline (at most [`DecisionId::MAX_LEN`] ASCII bytes): a Check allocates nothing for it.
#[derive(Clone, PartialEq, Eq)]
pub struct DecisionId {
    len: u8,
    bytes: [u8; DecisionId::MAX_LEN],
}

impl std::fmt::Debug for DecisionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DecisionId").field(&self.as_str()).finish()
    }
}

impl DecisionId {
    /// The longest request id taken over.
    pub const MAX_LEN: usize = 64;

    /// Envoy's `x-request-id` (a UUID) when it is one a log line and a message can carry
    /// as is: 1 to 64 of `A-Z a-z 0-9 . _ : -`. The client may set it, so anything else is
    /// not taken over.
    pub fn from_request(id: &str) -> Option<DecisionId> {
        let ok = !id.is_empty()
            && id.len() <= Self::MAX_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        ok.then(|| DecisionId::of(id.as_bytes()))
    }

    fn of(id: &[u8]) -> DecisionId {
        let mut bytes = [0u8; Self::MAX_LEN];
        bytes[..id.len()].copy_from_slice(id);
        DecisionId {
            len: id.len() as u8,
            bytes,
        }
    }

    /// A generated id (`za-` and 24 hex digits: a 64-bit random prefix of the process, so
    /// replicas do not share ids, and a 32-bit counter).
    pub fn generated(prefix: u64, counter: u64) -> DecisionId {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut id = *b"za-000000000000000000000000";
        let (prefix_hex, counter_hex) = id[3..].split_at_mut(16);
        for (i, b) in prefix_hex.iter_mut().enumerate() {
            *b = HEX[((prefix >> (60 - 4 * i)) & 15) as usize];
        }
        let counter = counter as u32;
        for (i, b) in counter_hex.iter_mut().enumerate() {
            *b = HEX[((counter >> (28 - 4 * i)) & 15) as usize];
        }
        DecisionId::of(&id)
    }

    /// The id's ASCII bytes (for the response writer: no UTF-8 check).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (checked in `from_request`, hex in `generated`).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

/// A decision and what surrounds it: its id, the realm and principal it concerns, and whether
/// the realm only reports its denies (dry-run).
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The id.
    pub id: DecisionId,
    /// For a deny answered as HTTP problem details (see `PathLabel::answered_as_problem`):
    /// the request's path without its query (the problem details' `instance`). `None`
    /// otherwise: a deny then is answered in gRPC form.
    pub instance: Option<Box<str>>,
    /// The decision the policy took (in dry-run: the one that would have been enforced).
    pub decision: Decision,
    /// The realm is in dry-run: the answer is an allow whatever `decision` says.
    pub dry_run: bool,
    /// The realm's name, if a realm protects the host.
    pub realm: Option<Arc<HeaderText>>,
    /// Who called, when the token was valid.
    pub principal: Option<Arc<Principal>>,
    /// What was called.
    pub path: PathLabel,
    /// The identity header names of the config that decided.
    pub headers: Arc<IdentityHeaders>,
    /// Which answers of that config carry the dynamic metadata.
    pub metadata: MetadataSet,
}

impl Verdict {
    /// The `grpc-message` a refused client sees: the reason, the decision id and how to find
    /// out more. `None` when the call may proceed.
    pub fn client_message(&self) -> Option<String> {
        match &self.decision {
            Decision::Deny(deny) if !self.dry_run => Some(deny_message(deny, &self.id)),
            _ => None,
        }
    }

    /// The gRPC status Envoy is told, as the `CheckResponse` says it: a refused call's code and
    /// message; `None` (OK) when the call may proceed.
    pub fn status(&self) -> Option<(GrpcCode, String)> {
        match (&self.decision, self.client_message()) {
            (Decision::Deny(deny), Some(message)) => Some((deny.outcome.code(), message)),
            _ => None,
        }
    }
}

impl Verdict {
    /// A refused REST request's answer: the RFC 9457 problem details (`application/problem+json`)
    /// shaped as the gateway's own (Spring's `ProblemDetail`: `type`, `title`, `status`,
    /// `detail`, `instance`; Camunda titles its rejections with the upper-case status name),
    /// with the decision id as an extension member. `None` for an allow, a dry-run, or a
    /// request answered in gRPC form. The token is never part of it.
    pub fn problem_details(&self) -> Option<String> {
        let instance = self.instance.as_deref()?;
        let (code, detail) = self.status()?;
        let status = code.http_status();
        let title = match code {
            GrpcCode::Unauthenticated => "UNAUTHORIZED",
            GrpcCode::PermissionDenied => "FORBIDDEN",
            GrpcCode::Unavailable => "SERVICE_UNAVAILABLE",
            GrpcCode::Ok => return None,
        };
        Some(
            serde_json::json!({
                "type": "about:blank",
                "title": title,
                "status": status,
                "detail": detail,
                "instance": instance,
                "decisionId": self.id.as_str(),
            })
            .to_string(),
        )
    }

    /// The `www-authenticate` challenge of a refused REST request without a valid token
    /// (RFC 6750 §3): `Bearer` when none was sent, with `error="invalid_token"` otherwise.
    pub fn bearer_challenge(&self) -> Option<&'static str> {
        match &self.decision {
            Decision::Deny(d) if d.outcome.code() == GrpcCode::Unauthenticated => {
                Some(if d.outcome == Outcome::MissingToken {
                    "Bearer"
                } else {
                    "Bearer error=\"invalid_token\""
                })
            }
            _ => None,
        }
    }
}

/// The message of `deny`, as the client sees it.
pub fn deny_message(deny: &Deny, id: &DecisionId) -> String {
    format!(
        "{MESSAGE_PREFIX}{} [decision {}: zeebe-authz explain shows why]",
        deny.message,
        id.as_str()
    )
}

/// The end of a Check.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Allowed, on behalf of this principal of this realm.
    Allow {
        /// Who.
        principal: Arc<Principal>,
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

/// The names of the identity headers added to allowed requests, and which of them are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityHeaders {
    /// The token's `sub`.
    pub subject: Arc<str>,
    /// The token's `azp` (or RFC 9068's `client_id`, or Keycloak's `clientId`).
    pub client_id: Arc<str>,
    /// The realm's name.
    pub realm: Arc<str>,
    /// Which are sent (each overwriting what a client sent under its name).
    pub send: IdentitySet,
}

/// Which identity headers an allow carries. The gateway reads none of them; they are for
/// audit (`%REQ(X-ZEEBE-AUTHZ-SUBJECT)%` in an access log) and for upstreams that trust them,
/// and each costs Envoy work on every allowed call (BENCHMARKS.md, "What an answer costs
/// Envoy"): the default is the subject alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdentitySet {
    /// Subject, client id and realm.
    All,
    /// The subject only.
    #[default]
    Subject,
    /// None (the three names are still removed from every allowed request).
    None,
}

/// Which answers carry the dynamic metadata (`decision_id`, `reason`, `rpc`, `realm`,
/// `subject`, `dry_run`) an Envoy access log can print. Storing it is most of what an answer
/// costs Envoy beyond an empty OK (BENCHMARKS.md, "What an answer costs Envoy"), so by default
/// only the answers an operator looks into carry it: denies, and dry-run would-be denies. An
/// allow's decision id is Envoy's own `x-request-id` whenever Envoy set one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetadataSet {
    /// Every answer.
    All,
    /// Denies, and the would-be denies a dry-run realm lets through; a plain allow carries
    /// none (Envoy then skips its metadata work for it).
    #[default]
    Denies,
    /// No answer.
    None,
}

impl MetadataSet {
    /// `all`, `denies` or `none`, as the config writes it.
    pub fn parse(name: &str) -> Option<MetadataSet> {
        match name {
            "all" => Some(MetadataSet::All),
            "denies" => Some(MetadataSet::Denies),
            "none" => Some(MetadataSet::None),
            _ => None,
        }
    }

    /// Whether an answer of `decision` carries the metadata.
    pub fn carried_by(self, decision: &Decision) -> bool {
        match self {
            MetadataSet::All => true,
            MetadataSet::Denies => matches!(decision, Decision::Deny(_)),
            MetadataSet::None => false,
        }
    }
}

impl IdentitySet {
    /// `all`, `subject` or `none`, as the config and `--dev-identity-headers` write it.
    pub fn parse(name: &str) -> Option<IdentitySet> {
        match name {
            "all" => Some(IdentitySet::All),
            "subject" => Some(IdentitySet::Subject),
            "none" => Some(IdentitySet::None),
            _ => None,
        }
    }
}

impl IdentityHeaders {
    /// The names sent, in order subject, client id, realm.
    pub fn sent(&self) -> &[bool; 3] {
        match self.send {
            IdentitySet::All => &[true, true, true],
            IdentitySet::Subject => &[true, false, false],
            IdentitySet::None => &[false, false, false],
        }
    }
}

impl Default for IdentityHeaders {
    fn default() -> Self {
        IdentityHeaders {
            subject: "x-zeebe-authz-subject".into(),
            client_id: "x-zeebe-authz-client-id".into(),
            realm: "x-zeebe-authz-realm".into(),
            send: IdentitySet::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_ids_are_the_request_id_or_generated_hex() {
        assert_eq!(
            DecisionId::generated(0x0123_4567_89ab_cdef, 0x1_fedc_ba98).as_str(),
            "za-0123456789abcdeffedcba98"
        );
        assert_eq!(
            DecisionId::generated(0, 0).as_str(),
            "za-000000000000000000000000"
        );
        let uuid = "0d0b5f9e-8d3a-4a8e-9d6c-1f2e3d4c5b6a";
        assert_eq!(DecisionId::from_request(uuid).unwrap().as_str(), uuid);
        let longest = "a".repeat(DecisionId::MAX_LEN);
        assert_eq!(
            DecisionId::from_request(&longest).unwrap().as_str(),
            longest
        );
        for bad in ["", "a b", "é", "a\n", &"a".repeat(DecisionId::MAX_LEN + 1)] {
            assert!(DecisionId::from_request(bad).is_none(), "{bad:?}");
        }
    }
}
