//! The bodies of the fuzz targets, in plain Rust with no libfuzzer types: one file per target
//! beside this one (`token.rs`, `body.rs`, `policy.rs`, `config.rs`, `jwks.rs`, `check.rs` with
//! `check_rest.rs`,
//! `json.rs`, `multipart.rs`), and
//! here what they share (the target table, the example and dev policies, the repository root).
//!
//! Each `fuzz/fuzz_targets/<name>.rs` includes this module and calls `harness::<name>`;
//! `tests/it/fuzz_corpus/` includes it too and replays the committed corpora
//! (`fuzz/corpus/<name>/`, `fuzz/regressions/<name>/`) through the same functions, so plain
//! `cargo test` on stable keeps every seed and every past crash passing. A target panics only
//! when a property breaks, never on input the code merely refuses.
//!
//! The oracles do not trust the code they test. Claims are re-read with serde_json. Request
//! bodies are decoded the way the gateway decodes them: prost, plus a small model of
//! protobuf-java's reader ([`java_fields`]), after inflating every gzip member. The grants of
//! `policies/dev.yaml` are written out by hand in [`dev_policy_needs`].

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use envoy_types::ext_authz::v3::pb::{CheckRequest, CheckResponse, HttpResponse};
use envoy_types::pb::envoy::config::core::v3::{HeaderMap, HeaderValue};
use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use jsonwebtoken::Algorithm;
use prost::Message as _;
use serde_json::{Value, json};
use zeebe_authz::lint::{FileKind, lint_source};
use zeebe_authz_core::body::RequestBody;
use zeebe_authz_core::body::{self, FieldPath, FieldSelection, MAX_DECOMPRESSED_BYTES};
use zeebe_authz_core::catalog::{GATEWAY_PATH_PREFIX, Rpc};
use zeebe_authz_core::claims::ClaimPath;
use zeebe_authz_core::config::JwksSettings;
use zeebe_authz_core::config::{self, RealmConfig, RealmMode, TokenSettings};
use zeebe_authz_core::decision::{IdentityHeaders, IdentitySet, MetadataSet};
use zeebe_authz_core::diag::{Diagnostics, Severity};
use zeebe_authz_core::keyset::{KeyLookup, KeySet};
use zeebe_authz_core::policy::condition::{ConditionKind, FieldSource, field_source};
use zeebe_authz_core::policy::{self, Policy};
use zeebe_authz_core::proto;
use zeebe_authz_core::signing::{SigningKey, access_token_claims};
use zeebe_authz_core::token::Principal;
use zeebe_authz_core::token::bearer::{DEFAULT_MAX_TOKEN_BYTES, bearer_token, check_jwt_shape};
use zeebe_authz_core::token::verify::{
    TokenRules, check_token_type, parse_header, principal_from_claims, unverified_claims,
    unverified_issuer, verify,
};
use zeebe_authz_server::authorizer::Authorizer;
use zeebe_authz_server::jwks::{JwksCache, JwksSource, http_client};
use zeebe_authz_server::metrics::Metrics;
use zeebe_authz_server::realm::Realms;

// One file per target (`<target>.rs`); the modules are named `<target>_target` so that they
// do not shadow the crate modules of the same names imported above.
#[path = "body.rs"]
mod body_target;
mod call;
#[path = "check_rest.rs"]
mod check_rest_target;
#[path = "check.rs"]
mod check_target;
#[path = "config.rs"]
mod config_target;
#[path = "json.rs"]
mod json_target;
#[path = "jwks.rs"]
mod jwks_target;
#[path = "multipart.rs"]
mod multipart_target;
#[path = "policy.rs"]
mod policy_target;
#[path = "token.rs"]
mod token_target;

pub use body_target::*;
pub use call::*;
pub use check_rest_target::*;
pub use check_target::*;
pub use config_target::*;
pub use json_target::*;
pub use jwks_target::*;
pub use multipart_target::*;
pub use policy_target::*;
pub use token_target::*;

/// A target: the name of its `fuzz_targets/` file and corpus folders, and its body.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: &[Target] = &[
    ("token", token),
    ("body", body),
    ("policy", policy),
    ("config", config),
    ("jwks", jwks),
    ("check", check),
    ("json", json),
    ("multipart", multipart),
];

/// `policies/camunda-8.8.yaml` (the Camunda dialect's example), compiled once.
fn camunda_policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        policy::embedded(
            "policies/camunda-8.8.yaml",
            include_str!("../../policies/camunda-8.8.yaml"),
        )
        .unwrap_or_else(|e| panic!("the Camunda example policy does not compile: {e}"))
    })
}

/// The Camunda dialect reads owners from untrusted claims: under the example policy
/// (`identity: {username_claim: preferred_username, client_id_claim: client_id, groups_claim:
/// groups}`, mapping rules on `groups` and `realm_access.roles`), the grants of any claims
/// equal those of the same claims reduced, apart from the dialect's code, to what the README
/// says owners are read from: a non-empty `client_id` string (then no user), else a non-empty
/// `preferred_username`, and with neither nothing at all; the strings of `groups` (a list, or
/// one string); the same of `realm_access.roles`, which only a mapping rule reads.
fn check_camunda_owners(claims: &Value) {
    let p = camunda_policy();
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let strings = |v: Option<&Value>| -> Vec<Value> {
        match v {
            Some(Value::Array(items)) => items.iter().filter(|i| i.is_string()).cloned().collect(),
            Some(s @ Value::String(_)) => vec![s.clone()],
            _ => Vec::new(),
        }
    };
    let mut reduced = serde_json::Map::new();
    let principal = match (
        text(claims.get("client_id")),
        text(claims.get("preferred_username")),
    ) {
        (Some(client), _) => Some(("client_id", client)),
        (None, Some(user)) => Some(("preferred_username", user)),
        (None, None) => None,
    };
    if let Some((claim, id)) = principal {
        reduced.insert(claim.into(), json!(id));
        reduced.insert("groups".into(), Value::Array(strings(claims.get("groups"))));
        let roles = strings(claims.get("realm_access").and_then(|r| r.get("roles")));
        reduced.insert("realm_access".into(), json!({ "roles": roles }));
    }
    assert_eq!(
        p.grants_for_token(claims, []),
        p.grants_for_token(&Value::Object(reduced), []),
        "owners read from other claims than documented: {claims}"
    );
}

/// The dev policy (`policies/dev.yaml`, as `serve --dev` embeds it), compiled once.
fn dev_policy() -> &'static Arc<Policy> {
    static POLICY: OnceLock<Arc<Policy>> = OnceLock::new();
    POLICY.get_or_init(|| {
        let file: Arc<Path> = Arc::from(Path::new("policies/dev.yaml"));
        let mut diags = Diagnostics::default();
        let policy = policy::compile(&file, zeebe_authz_core::policy::DEV_POLICY, &mut diags)
            .unwrap_or_else(|| panic!("the dev policy does not compile: {:?}", diags.items()));
        Arc::new(policy)
    })
}

/// The repository root: this file's crate is either the main crate or `fuzz/`.
fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    match manifest.parent() {
        Some(parent) if manifest.join("harness").is_dir() => parent.to_path_buf(),
        _ => manifest.to_path_buf(),
    }
}
