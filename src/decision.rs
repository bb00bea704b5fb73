//! A Check's decision: allow on behalf of a principal, or deny with an `Outcome`; and the
//! names of the identity headers an allow adds. Pure: [`crate::envoy`] turns a decision into
//! Envoy's `CheckResponse`.

use std::sync::Arc;

use crate::outcome::{Deny, Outcome};
use crate::token::Principal;

/// The end of a Check.
#[derive(Debug, Clone)]
pub(crate) enum Decision {
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
    pub(crate) fn outcome(&self) -> Outcome {
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
    pub(crate) client_id: Arc<str>,
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
