//! `zeebe-authz explain`: decides one call with the code `serve` runs and says why.
//!
//! The decision is `Authorizer::decide_with` on a request built from the command line (host,
//! rpc, bearer token, request message): realm choice, token checks, permissions, the policy
//! and the deny message are `serve`'s own. Only the token's signature is taken on trust
//! offline (`Credentials::Unverified`, or `--claims`); `--online` fetches the realm's keys as
//! `serve` does and verifies it. The trace around the decision reads the same pieces: the
//! realm rule that matched, the claims at the realm's claim paths, every grant of the rpc, and
//! each conditional grant as `Policy::authorize_traced` checked it.

mod encode;
mod rest;

pub use rest::RestCall;

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use zeebe_authz_core::body::RequestBody;
use zeebe_authz_core::catalog::{GATEWAY_PATH_PREFIX, Rpc};
use zeebe_authz_core::config::{self, Config};
use zeebe_authz_core::decision::{Decision, Verdict, deny_message};
use zeebe_authz_core::policy::PathRule;
use zeebe_authz_core::request::RequestView;
use zeebe_authz_core::token::unix_now;
use zeebe_authz_core::token::verify::{parse_header, unverified_claims};
use zeebe_authz_server::authorizer::Credentials;
use zeebe_authz_server::metrics::Metrics;
use zeebe_authz_server::realm::{HostRule, Realm};

/// Exit code: the call is allowed.
pub const EXIT_ALLOWED: u8 = 0;
/// Exit code: the call is denied.
pub const EXIT_DENIED: u8 = 1;
/// Exit code: the command line, the config or an input is wrong.
pub const EXIT_USAGE: u8 = 2;

/// `explain` options.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The config `serve` runs.
    #[arg(long, env = "ZEEBE_AUTHZ_CONFIG")]
    pub(crate) config: PathBuf,
    /// The gateway host the call goes to (`:authority`, e.g. zeebe.example.com:443).
    #[arg(long)]
    pub(crate) host: String,
    /// The rpc (`CreateProcessInstance`).
    #[arg(long, required_unless_present = "rest")]
    pub(crate) rpc: Option<String>,
    /// Instead of an rpc: a REST request, its method and path
    /// (`--rest POST /v2/jobs/activation`), judged as at the gateway's REST door.
    #[arg(long, num_args = 2, value_names = ["METHOD", "PATH"], conflicts_with_all = ["rpc", "request"])]
    pub(crate) rest: Option<Vec<String>>,
    /// The REST request's JSON body (or `@FILE`), e.g. `{"type": "payment"}`.
    #[arg(long, requires = "rest")]
    pub(crate) body: Option<String>,
    /// The caller's access token: the JWT, `@FILE` or `-` (standard input), so it stays out of
    /// the shell history.
    #[arg(long, required_unless_present = "claims", conflicts_with = "claims")]
    pub(crate) token: Option<String>,
    /// Instead of a token: its claims as JSON (or `@FILE`), e.g. `{"permissions":
    /// {"zeebe-api": ["read:*"]}}`; `exp`, `iss` and `aud` are filled in when absent.
    #[arg(long, conflicts_with = "online")]
    pub(crate) claims: Option<String>,
    /// The request message as JSON with the proto's field names (or `@FILE`), e.g.
    /// `{"bpmnProcessId": "order", "tenantId": "tenant-b"}`.
    #[arg(long)]
    pub(crate) request: Option<String>,
    /// Verify the token's signature against the realm's keys, fetched as `serve` does.
    #[arg(long)]
    pub(crate) online: bool,
    /// How long `--online` may take to get the keys.
    #[arg(long, default_value = "5s", value_parser = config::positive_duration_arg)]
    pub(crate) timeout: Duration,
    /// The decision id to use (a client's message names one; any `x-request-id`).
    #[arg(long)]
    pub(crate) request_id: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub(crate) format: Format,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per step.
    Text,
    /// One JSON object.
    Json,
}

/// One call to explain.
#[derive(Debug, Clone)]
pub struct Call {
    /// `:authority`.
    pub host: String,
    /// The rpc name.
    pub rpc: String,
    /// Who calls.
    pub caller: Caller,
    /// The request message as JSON, if any.
    pub request: Option<Value>,
    /// A REST request instead of the rpc: method, path and JSON body.
    pub rest: Option<RestCall>,
    /// Verify the token against the realm's keys within this time (`None`: offline).
    pub online: Option<Duration>,
    /// The decision id (Envoy's `x-request-id`).
    pub request_id: Option<String>,
}

/// The caller of a [`Call`].
#[derive(Debug, Clone)]
pub enum Caller {
    /// An access token.
    Token(String),
    /// The claims of a token.
    Claims(Value),
}

/// What `explain` found: the decision `serve` would take, and the steps that led to it.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// Whether the call goes through (in dry-run: always).
    pub allowed: bool,
    /// The gRPC status the client sees (`OK`, `PERMISSION_DENIED`, …).
    pub code: &'static str,
    /// The reason (the metrics label: `allowed`, `missing_permission`, …).
    pub reason: &'static str,
    /// The realm that protects the host, if any.
    pub realm: Option<String>,
    /// The `grpc-message` the client sees (none when allowed).
    pub message: Option<String>,
    /// The decision id.
    pub decision_id: String,
    /// The realm only reports (its would-be decision is in `would_be`).
    pub dry_run: bool,
    /// In dry-run, the decision enforce mode would take.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would_be: Option<WouldBe>,
    /// How the decision came about.
    pub steps: Vec<Step>,
}

/// The decision a dry-run realm would enforce.
#[derive(Debug, Clone, Serialize)]
pub struct WouldBe {
    /// The gRPC status.
    pub code: &'static str,
    /// The reason.
    pub reason: &'static str,
    /// The message.
    pub message: Option<String>,
}

/// One step of the decision.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// What was looked at (`realm`, `token`, `signature`, `payload`, `claims`, `permissions`,
    /// `tenants`, `grant`, `condition`, `path`).
    pub step: &'static str,
    /// Whether it passed (`None`: not checked, or only information).
    pub ok: Option<bool>,
    /// What was found.
    pub detail: String,
}

fn step(step: &'static str, ok: Option<bool>, detail: impl Into<String>) -> Step {
    Step {
        step,
        ok,
        detail: detail.into(),
    }
}

/// Decides `call` under `config` as `serve` would and traces it.
pub async fn explain(config: &Config, call: &Call) -> Result<Explanation, String> {
    let (authorizer, _) = zeebe_authz_server::serve::build(config, Arc::new(Metrics::new()))
        .map_err(|e| format!("{e:#}"))?;
    let known = Rpc::from_grpc_name(&call.rpc).filter(|_| call.rest.is_none());
    let raw = match (&call.request, known) {
        (Some(json), Some(rpc)) => {
            zeebe_authz_core::body::frame(&encode::encode_request(rpc, json)?)
        }
        (Some(_), None) => {
            return Err(format!(
                "--request: '{}' is no rpc of the gateway",
                call.rpc
            ));
        }
        (None, _) => Vec::new(),
    };
    let (method, path, raw, content_type) = match &call.rest {
        Some(r) => (
            r.method.as_str(),
            r.path.clone(),
            r.body.clone(),
            Some("application/json"),
        ),
        None => (
            "POST",
            format!("{GATEWAY_PATH_PREFIX}{}", call.rpc),
            raw,
            None,
        ),
    };
    let generation = authorizer.current();
    let realm = generation.realms.matching(&call.host);
    let claims = match &call.caller {
        Caller::Claims(claims) => Some(with_defaults(claims.clone(), realm.map(|(r, _)| r))),
        Caller::Token(_) => None,
    };
    let authorization = match &call.caller {
        Caller::Token(t) => Some(format!("Bearer {}", t.trim())),
        Caller::Claims(_) => None,
    };
    let view = RequestView {
        host: &call.host,
        method,
        path: &path,
        authorization: authorization.as_deref(),
        request_id: call.request_id.as_deref(),
        body: RequestBody {
            raw: &raw,
            encoding: None,
            partial: false,
            content_type,
        },
    };
    let credentials = match (&claims, call.online) {
        (Some(claims), _) => Credentials::Claims(claims),
        (None, Some(_)) => Credentials::Verified,
        (None, None) => Credentials::Unverified,
    };
    let deadline = call.online.map(|t| tokio::time::Instant::now() + t);
    let verdict = authorizer.decide_with(&view, deadline, credentials).await;

    let mut steps = Vec::new();
    trace_realm(&call.host, realm, &mut steps);
    if let Some((realm, _)) = realm {
        let shown_claims = match (&call.caller, &claims) {
            (_, Some(c)) => Some(c.clone()),
            (Caller::Token(t), None) => trace_token(t.trim(), call.online.is_some(), &mut steps),
            _ => None,
        };
        trace_principal(realm, &verdict, shown_claims.as_ref(), &mut steps);
        if verdict.principal.is_some() {
            let held: Vec<&str> = shown_claims
                .as_ref()
                .map(|c| realm.rules.permissions_claim.read(c))
                .unwrap_or_default();
            let mut owners = Vec::new();
            if let (Some(d), Some(c)) = (realm.policy.dialect(), &shown_claims) {
                let found = d.owners(c);
                steps.push(step(
                    "owners",
                    Some(!found.is_empty()),
                    format!(
                        "Camunda dialect: the token is {}",
                        if found.is_empty() {
                            "no owner of any authorization (no username, client id, group, role or matching mapping rule)".to_owned()
                        } else {
                            found.join(", ")
                        }
                    ),
                ));
                owners = found;
            }
            match known {
                _ if call.rest.is_some() => {
                    steps.push(rest::trace_rest(realm, method, &path));
                    rest::trace_rest_grants(realm, method, &path, (&held, &owners), &mut steps);
                }
                Some(rpc) => trace_grants(
                    realm,
                    rpc,
                    (&held, &owners),
                    &verdict,
                    &view.body,
                    &mut steps,
                ),
                None => trace_unknown_rpc(realm, &call.rpc, &mut steps),
            }
        }
    }
    Ok(explanation(&verdict, steps))
}

/// `--claims` as a valid token of `realm` would have them: `exp`, `iss` and `aud` added when
/// absent, so the question is only what the permissions allow.
fn with_defaults(mut claims: Value, realm: Option<&Realm>) -> Value {
    if let (Value::Object(map), Some(realm)) = (&mut claims, realm) {
        map.entry("exp")
            .or_insert_with(|| (unix_now() + 300).into());
        map.entry("iss")
            .or_insert_with(|| realm.rules.issuer.to_string().into());
        map.entry("aud")
            .or_insert_with(|| realm.rules.audiences.first().map(|a| a.to_string()).into());
    }
    claims
}

fn trace_realm(host: &str, realm: Option<(&Realm, HostRule)>, steps: &mut Vec<Step>) {
    let shown = zeebe_authz_core::text::clip(host, 64, zeebe_authz_core::text::Keep::Text);
    steps.push(match realm {
        Some((realm, how)) => step(
            "realm",
            Some(true),
            format!(
                "{} ({}, mode {})",
                realm.name,
                match how {
                    HostRule::Exact => format!("'{shown}' is one of its hosts"),
                    HostRule::WithoutPort =>
                        format!("'{shown}' without its port is one of its hosts"),
                    HostRule::AnyHost => format!("no realm names '{shown}'; this realm has host *"),
                },
                realm.mode.as_str()
            ),
        ),
        None => step(
            "realm",
            Some(false),
            format!("no realm protects '{shown}' (and none has host *)"),
        ),
    });
}

/// The token's header and claims as read without trust; the claims, if readable.
fn trace_token(token: &str, online: bool, steps: &mut Vec<Step>) -> Option<Value> {
    match parse_header(token) {
        Ok(h) => steps.push(step(
            "token",
            Some(true),
            format!(
                "{}, kid {}",
                zeebe_authz_core::signing::alg_name(h.alg),
                h.kid.as_deref().map_or("(none)".into(), |k| format!(
                    "'{}'",
                    zeebe_authz_core::text::clip(k, 64, zeebe_authz_core::text::Keep::Text)
                ))
            ),
        )),
        Err(deny) => steps.push(step("token", Some(false), deny.message.to_string())),
    }
    steps.push(if online {
        step(
            "signature",
            None,
            "checked against the realm's keys, fetched as serve does (see the decision)",
        )
    } else {
        step(
            "signature",
            None,
            "not verified (offline; --online fetches the realm's keys and verifies it)",
        )
    });
    unverified_claims(token).ok()
}

fn trace_principal(
    realm: &Realm,
    verdict: &Verdict,
    claims: Option<&Value>,
    steps: &mut Vec<Step>,
) {
    let text = |c: &Value, k: &str| c.get(k).and_then(Value::as_str).map(str::to_owned);
    if let Some(c) = claims {
        let exp = c.get("exp").and_then(Value::as_u64);
        let left = exp.map_or("no exp".into(), |e| {
            let now = unix_now();
            if e >= now {
                format!("expires in {}s", e - now)
            } else {
                format!("expired {}s ago", now - e)
            }
        });
        steps.push(step(
            "payload",
            None,
            format!(
                "sub {}, client {}, iss {}, {left}",
                text(c, "sub").unwrap_or_else(|| "(none)".into()),
                // The order serve reads the client in (`azp`, RFC 9068 `client_id`, `clientId`).
                text(c, "azp")
                    .or_else(|| text(c, "client_id"))
                    .or_else(|| text(c, "clientId"))
                    .unwrap_or_else(|| "(none)".into()),
                text(c, "iss").unwrap_or_else(|| "(none)".into()),
            ),
        ));
    }
    match (&verdict.principal, &verdict.decision) {
        (Some(_), _) => steps.push(step(
            "claims",
            Some(true),
            format!(
                "exp, nbf, iat, iss ({}) and aud ({}) are valid",
                realm.rules.issuer,
                realm.rules.audiences.join(" or ")
            ),
        )),
        (None, Decision::Deny(deny)) => {
            steps.push(step("claims", Some(false), deny.message.to_string()));
            return;
        }
        (None, Decision::Allow { .. }) => {}
    }
    if let Some(c) = claims {
        let found = realm.rules.permissions_claim.read(c);
        steps.push(step(
            "permissions",
            Some(!found.is_empty()),
            format!(
                "{}: {}",
                realm.rules.permissions_claim,
                if found.is_empty() {
                    "(none)".into()
                } else {
                    found.join(", ")
                }
            ),
        ));
    }
    if let (Some(claim), Some(p)) = (&realm.rules.tenants_claim, &verdict.principal) {
        let held: Vec<&str> = p.tenants.iter().map(|t| &**t).collect();
        steps.push(step(
            "tenants",
            None,
            format!(
                "{claim}: {}",
                if held.is_empty() {
                    "(none)".into()
                } else {
                    held.join(", ")
                }
            ),
        ));
    }
}

fn trace_grants(
    realm: &Realm,
    rpc: Rpc,
    (permissions, owners): (&[&str], &[String]),
    verdict: &Verdict,
    body: &RequestBody<'_>,
    steps: &mut Vec<Step>,
) {
    let Some(principal) = &verdict.principal else {
        return;
    };
    let policy = &realm.policy;
    for grant in policy.grants() {
        if !grant.rpcs.contains(rpc) {
            continue;
        }
        let owned = match grant.authorization() {
            None => permissions.contains(&&*grant.permission),
            Some(_) => owners.iter().any(|o| **o == *grant.permission),
        };
        // The token's x-JOB_TYPE authorization takes the job rpcs from its others.
        let pinned_out = owned
            && principal.grants.pinned.contains(rpc)
            && zeebe_authz_core::policy::is_pinned_out(grant, principal.grants.pinned);
        let held = owned && !pinned_out;
        let how = if grant.conditional_rpcs.contains(rpc) {
            "with conditions on the request"
        } else {
            "unconditionally"
        };
        steps.push(step(
            "grant",
            Some(held),
            format!(
                "{}:{}: {} grants {rpc}{} {how}{}",
                grant.span.file.display(),
                grant.span.line,
                grant.permission,
                rest::row_note(grant, rpc),
                match (held, pinned_out) {
                    (true, _) => "",
                    (false, true) =>
                        " (not for this token: its x-JOB_TYPE authorization pins the job types)",
                    (false, false) => " (not held)",
                }
            ),
        ));
    }
    if policy.rpc_named_permissions() && principal.grants.rpcs.contains(rpc) {
        steps.push(step(
            "grant",
            None,
            format!("rpc_named_permissions: a permission named {rpc} grants it"),
        ));
    }
    let mut checked = Vec::new();
    let result = policy.authorize_traced(
        &principal.grants,
        &principal.tenants,
        rpc,
        body,
        &mut |grant, outcome| {
            checked.push(step(
                "condition",
                Some(outcome.is_ok()),
                format!(
                    "{}:{}: {}: {}",
                    grant.span.file.display(),
                    grant.span.line,
                    grant.permission,
                    match outcome {
                        Ok(()) => "the request meets its conditions".to_owned(),
                        Err(reason) => reason.to_owned(),
                    }
                ),
            ));
        },
    );
    steps.extend(checked);
    if let Err(zeebe_authz_core::policy::RpcDeny::BodyUnavailable(e)) = result {
        steps.push(step(
            "condition",
            Some(false),
            format!("the request's fields cannot be read: {e} (give them with --request)"),
        ));
    }
}

fn trace_unknown_rpc(realm: &Realm, name: &str, steps: &mut Vec<Step>) {
    let hint = zeebe_authz_core::diag::suggest(name, Rpc::all().map(Rpc::name))
        .map_or(String::new(), |s| format!("; did you mean {s}?"));
    let rule = match realm.policy.unknown_rpcs() {
        PathRule::Deny => "deny",
        PathRule::Authenticated => "authenticated",
    };
    steps.push(step(
        "path",
        None,
        format!(
            "'{}' is no rpc this gateway version knows (unknown_rpcs: {rule}){hint}",
            zeebe_authz_core::text::clip(name, 64, zeebe_authz_core::text::Keep::Text)
        ),
    ));
}

fn explanation(verdict: &Verdict, steps: Vec<Step>) -> Explanation {
    let outcome = verdict.decision.outcome();
    let code = outcome.code().name();
    let would_be = match (&verdict.decision, verdict.dry_run) {
        (Decision::Deny(deny), true) => Some(WouldBe {
            code,
            reason: outcome.reason(),
            message: Some(deny_message(deny, &verdict.id)),
        }),
        _ => None,
    };
    let allowed = verdict.client_message().is_none();
    Explanation {
        allowed,
        code: if allowed { "OK" } else { code },
        reason: if allowed && would_be.is_none() {
            "allowed"
        } else {
            outcome.reason()
        },
        realm: verdict.realm.as_deref().map(|r| r.as_str().to_owned()),
        message: verdict.client_message(),
        decision_id: verdict.id.as_str().to_owned(),
        dry_run: verdict.dry_run,
        would_be,
        steps,
    }
}

/// Runs `zeebe-authz explain`.
pub(crate) async fn run(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let usage = |message: String| {
        eprintln!("error: {message}");
        Ok(ExitCode::from(EXIT_USAGE))
    };
    let config = match zeebe_authz_server::disk::load_config(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{e}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let caller = match (&args.token, &args.claims) {
        (Some(t), _) => match read_input("--token", t) {
            Ok(t) => Caller::Token(t),
            Err(e) => return usage(e),
        },
        (None, Some(c)) => match read_input("--claims", c).and_then(|c| json("--claims", &c)) {
            Ok(c) => Caller::Claims(c),
            Err(e) => return usage(e),
        },
        (None, None) => return usage("give --token or --claims".into()),
    };
    let request = match &args.request {
        Some(r) => match read_input("--request", r).and_then(|r| json("--request", &r)) {
            Ok(r) => Some(r),
            Err(e) => return usage(e),
        },
        None => None,
    };
    let rest = match rest::rest_call(args.rest.as_deref(), args.body.as_deref()) {
        Ok(r) => r,
        Err(e) => return usage(e),
    };
    let rpc = match &rest {
        Some(r) => format!("{} {}", r.method, r.path),
        None => args.rpc.unwrap_or_default(),
    };
    let call = Call {
        host: args.host,
        rpc,
        caller,
        request,
        rest,
        online: args.online.then_some(args.timeout),
        request_id: args.request_id,
    };
    let explanation = match explain(&config, &call).await {
        Ok(e) => e,
        Err(e) => return usage(e),
    };
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&explanation)?),
        Format::Text => print!("{}", render_text(&call, &explanation)),
    }
    Ok(ExitCode::from(if explanation.allowed {
        EXIT_ALLOWED
    } else {
        EXIT_DENIED
    }))
}

/// `VALUE`, `@FILE` or `-` (standard input).
fn read_input(flag: &str, value: &str) -> Result<String, String> {
    if value == "-" {
        let mut s = String::new();
        std::io::stdin()
            .take(4 << 20)
            .read_to_string(&mut s)
            .map_err(|e| format!("{flag} -: cannot read standard input: {e}"))?;
        return Ok(s);
    }
    match value.strip_prefix('@') {
        Some(path) => zeebe_authz_server::disk::read_file(std::path::Path::new(path))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| format!("{flag} @{path}: {e}")),
        None => Ok(value.to_owned()),
    }
}

fn json(flag: &str, text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("{flag} is not JSON: {e}"))
}

/// The text report: the call, one line per step, the decision.
pub fn render_text(call: &Call, e: &Explanation) -> String {
    use std::fmt::Write as _;
    let mut out = format!("{} on {}\n", call.rpc, call.host);
    for s in &e.steps {
        let mark = match s.ok {
            Some(true) => "ok ",
            Some(false) => "NO ",
            None => " · ",
        };
        let _ = writeln!(out, "  {mark} {:<11} {}", s.step, s.detail);
    }
    let verdict = if e.allowed { "ALLOWED" } else { "DENIED" };
    let _ = writeln!(out, "{verdict}: {} ({})", e.code, e.reason);
    if let Some(m) = &e.message {
        let _ = writeln!(out, "  the client sees: {m}");
    }
    if let Some(w) = &e.would_be {
        let _ = writeln!(
            out,
            "  dry-run: enforce would answer {} ({}): {}",
            w.code,
            w.reason,
            w.message.as_deref().unwrap_or("")
        );
    }
    let _ = writeln!(out, "  decision id {}", e.decision_id);
    out
}
