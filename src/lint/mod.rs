//! `zeebe-authz lint`: checks configs and policies before they reach a server.
//!
//! Each file is compiled with exactly the code `serve` runs ([`config::compile`],
//! [`policy::compile`]), so lint reports every error `serve` would stop on, at the same
//! `file:line:column`. On top of that it looks for policies that compile but probably do not
//! do what was meant (all warnings): grants shadowed by a broader grant of the same permission,
//! grants that can never match a token, and rpcs no permission grants; for the Camunda
//! dialect, what the engine reads differently ([`camunda`]). With `--online` it also asks each
//! realm's issuer for its discovery document and keys, as `serve` will at startup.
//!
//! `--camunda-version 8.8|8.9` reports each authorization's Camunda twin and its
//! identity-as-code settings; `--camunda-version 8.7` rewrites an 8.7 policy in the dialect
//! ([`migrate`]); `--camunda-table` prints the rpc → permission table.
//!
//! Exit codes: `EXIT_CLEAN` when nothing was found (notes do not count), `EXIT_FINDINGS` for
//! any error or warning, `EXIT_USAGE` when a file cannot be read or the arguments are wrong.

mod engine;
mod issuers;
mod keycloak;
mod migrate;
mod online;
mod rules;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

use zeebe_authz_core::catalog::{Rpc, RpcSet};
use zeebe_authz_core::claims::ClaimPath;
use zeebe_authz_core::config::{self, Config};
use zeebe_authz_core::diag::{
    Diagnostic, Diagnostics, Severity, Span, parse_yaml, resolve_relative,
};
use zeebe_authz_core::policy::camunda::CamundaVersion;
use zeebe_authz_core::policy::{self, Policy};

/// Exit code: no finding.
pub(crate) const EXIT_CLEAN: u8 = 0;
/// Exit code: at least one error or warning.
pub(crate) const EXIT_FINDINGS: u8 = 1;
/// Exit code: unreadable file or bad arguments (clap uses 2 for its own usage errors too).
pub(crate) const EXIT_USAGE: u8 = 2;

/// Top-level keys of a config file.
const CONFIG_KEYS: &[&str] = &[
    "listen",
    "realms",
    "jwks",
    "token",
    "identity_headers",
    "dynamic_metadata",
];
/// Top-level keys of a policy file.
const POLICY_KEYS: &[&str] = &[
    "rpc_named_permissions",
    "groups",
    "grants",
    "unknown_rpcs",
    "other_paths",
    "identity",
    "mapping_rules",
    "authorizations",
];

/// The permissions claim of `--camunda-version 8.7` for a policy file (a config's realms
/// name their own): Camunda Identity's, for the `zeebe-api` audience.
const DEFAULT_PERMISSIONS_CLAIM: &str = "permissions.zeebe-api";

/// What a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FileKind {
    /// A service config (`realms:` …).
    Config,
    /// A policy (`grants:` …).
    Policy,
}

/// How findings are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// `file:line:column: severity: key: message (hint: …)`, one per line.
    Text,
    /// A JSON array of findings (`severity`, `file`, `line`, `column`, `key`, `message`, `hint`).
    Json,
}

/// `lint` options.
#[derive(Debug, Clone, clap::Args)]
pub struct LintArgs {
    /// Config and policy files to check (the policies a config names are checked too).
    #[arg(required_unless_present = "camunda_table")]
    pub(crate) files: Vec<PathBuf>,
    /// Treat every file as this kind instead of telling by its top-level keys.
    #[arg(long, value_enum)]
    pub(crate) kind: Option<FileKind>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub(crate) format: Format,
    /// Also fetch each realm's discovery document and keys (what `serve` does at startup).
    #[arg(long)]
    pub(crate) online: bool,
    /// Per-request timeout for `--online`.
    #[arg(long, default_value = "5s", value_parser = config::positive_duration_arg, requires = "online")]
    pub(crate) timeout: Duration,
    /// After the findings, report on the policies for this Camunda version: 8.8 or 8.9, each
    /// authorization's Camunda twin and the identity-as-code settings; 8.7, the policy
    /// rewritten in the Camunda dialect (a policy file to save; findings go to stderr).
    #[arg(long, value_parser = camunda_version_arg)]
    pub(crate) camunda_version: Option<CamundaVersion>,
    /// With `--camunda-version 8.7`: the permissions claim of a policy file's realm (dotted);
    /// a config's realms use their own.
    #[arg(long, default_value = DEFAULT_PERMISSIONS_CLAIM, requires = "camunda_version")]
    pub(crate) permissions_claim: String,
    /// Also check each config against this Keycloak realm export (`kc.sh export`, or the admin
    /// console's partial export): the issuer's realm, the audience, the claims the policy
    /// reads, the permissions its grants name, and the clients that match no grant.
    #[arg(long, value_name = "EXPORT.json")]
    pub(crate) keycloak_realm: Option<PathBuf>,
    /// Print the gateway rpc → Camunda permission table (Markdown) and exit.
    #[arg(long, exclusive = true)]
    pub(crate) camunda_table: bool,
}

fn camunda_version_arg(s: &str) -> Result<CamundaVersion, String> {
    CamundaVersion::parse(s)
        .ok_or_else(|| format!("'{s}' is not a Camunda version this lint knows (8.7, 8.8, 8.9)"))
}

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct LintOptions {
    /// Force the kind of every file.
    pub kind: Option<FileKind>,
    /// Check issuers online, with this per-request timeout.
    pub online: Option<Duration>,
    /// Check configs against this Keycloak realm export.
    pub keycloak_realm: Option<PathBuf>,
}

/// A file that could not be read at all: a usage error, not a finding.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}: {source}", path.display())]
pub struct UnreadableFile {
    /// The file.
    pub(crate) path: PathBuf,
    /// Why.
    pub(crate) source: std::io::Error,
}

/// Runs `zeebe-authz lint`.
pub(crate) async fn run(args: LintArgs) -> anyhow::Result<ExitCode> {
    if args.camunda_table {
        print!("{}", policy::camunda::render_table());
        return Ok(ExitCode::from(EXIT_CLEAN));
    }
    if args.camunda_version.is_some() && args.format == Format::Json {
        eprintln!("error: --camunda-version reports are text: drop --format json");
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    // The 8.7 report is a policy file: stdout holds only it, the findings go to stderr.
    let migrating = args.camunda_version == Some(CamundaVersion::V8_7);
    let options = LintOptions {
        kind: args.kind,
        online: args.online.then_some(args.timeout),
        keycloak_realm: args.keycloak_realm.clone(),
    };
    let findings = match lint_files(&args.files, &options).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    match args.format {
        Format::Text => {
            for d in &findings {
                if migrating {
                    eprintln!("{d}");
                } else {
                    println!("{d}");
                }
            }
            let count = |s: Severity| findings.iter().filter(|d| d.severity == s).count();
            let notes = match count(Severity::Note) {
                0 => String::new(),
                n => format!(", {n} note(s)"),
            };
            eprintln!(
                "{} error(s), {} warning(s){notes} in {} file(s)",
                count(Severity::Error),
                count(Severity::Warning),
                args.files.len()
            );
            if let Some(version) = args.camunda_version {
                let claim = ClaimPath::from_dotted(&args.permissions_claim);
                let reports = camunda_reports(&args.files, args.kind, version, &claim);
                for (i, report) in reports.iter().enumerate() {
                    match (migrating, i) {
                        // One YAML document per policy.
                        (true, 0) => print!("{report}"),
                        (true, _) => print!("---\n{report}"),
                        (false, _) => print!("\n{report}"),
                    }
                }
            }
        }
        Format::Json => println!("{}", serde_json::to_string_pretty(&findings)?),
    }
    Ok(ExitCode::from(exit_code(&findings)))
}

/// `EXIT_FINDINGS` when any finding is an error or a warning (notes only inform).
pub fn exit_code(findings: &[Diagnostic]) -> u8 {
    if findings.iter().any(|d| d.severity != Severity::Note) {
        EXIT_FINDINGS
    } else {
        EXIT_CLEAN
    }
}

/// The `--camunda-version` reports of the policies among `paths` (a config's per realm, with
/// the realm's permissions claim), in order. A file that does not compile gets none: its
/// errors are among the findings.
pub fn camunda_reports(
    paths: &[PathBuf],
    kind: Option<FileKind>,
    version: CamundaVersion,
    permissions_claim: &ClaimPath,
) -> Vec<String> {
    let report = |policy: &Policy, title: &str, claim: &ClaimPath| match version {
        CamundaVersion::V8_7 => migrate::migrate(policy, title, claim),
        _ => engine::twin_report(policy, title, version),
    };
    let mut out = Vec::new();
    for path in paths {
        let mut diags = Diagnostics::default();
        let Some((file, text)) =
            zeebe_authz_core::files::read_source(&zeebe_authz_server::disk::Disk, path, &mut diags)
        else {
            continue;
        };
        let title = path.display().to_string();
        match kind.or_else(|| detect_kind(&file, &text, &mut diags)) {
            Some(FileKind::Policy) => {
                // The twin report compares with an engine that checks its authorizations.
                let options = policy::PolicyOptions {
                    engine_authorizations: version != CamundaVersion::V8_7,
                };
                if let Some(p) = policy::compile_with(&file, &text, options, &mut diags) {
                    out.push(report(&p, &title, permissions_claim));
                }
            }
            Some(FileKind::Config) => {
                if let Some(c) =
                    config::compile(&file, &text, &zeebe_authz_server::disk::Disk, &mut diags)
                {
                    for realm in &c.realms {
                        let title = format!("{title}, realm '{}'", realm.name);
                        out.push(report(&realm.policy, &title, &realm.permissions_claim));
                    }
                }
            }
            None => {}
        }
    }
    out
}

/// Lints files; findings in file order, each reported once even when a policy is reached
/// both directly and through a config.
pub async fn lint_files(
    paths: &[PathBuf],
    options: &LintOptions,
) -> Result<Vec<Diagnostic>, UnreadableFile> {
    let mut sources = Vec::with_capacity(paths.len());
    for path in paths {
        let bytes = zeebe_authz_server::disk::read_file(path).map_err(|source| UnreadableFile {
            path: path.clone(),
            source,
        })?;
        sources.push((Arc::<Path>::from(path.as_path()), bytes));
    }
    let export = match &options.keycloak_realm {
        Some(path) => {
            let bytes =
                zeebe_authz_server::disk::read_file(path).map_err(|source| UnreadableFile {
                    path: path.clone(),
                    source,
                })?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            Some((Arc::<Path>::from(path.as_path()), text))
        }
        None => None,
    };
    let mut all = Vec::new();
    for (file, bytes) in sources {
        let linted = match std::str::from_utf8(&bytes) {
            Ok(text) => lint_source(&file, text, options.kind),
            Err(e) => {
                let mut d = Diagnostics::default();
                d.error(
                    Span::file(&file),
                    "",
                    format!(
                        "not UTF-8 text (invalid byte at offset {})",
                        e.valid_up_to()
                    ),
                );
                Linted {
                    diagnostics: d.into_vec(),
                    config: None,
                }
            }
        };
        all.extend(linted.diagnostics);
        if let (Some(timeout), Some(config)) = (options.online, &linted.config) {
            all.extend(online::check_issuers(config, timeout).await);
        }
        if let (Some((path, text)), Some(config)) = (&export, &linted.config) {
            all.extend(keycloak::check(config, path, text));
        }
    }
    Ok(sort_by_place(dedup(all)))
}

/// Orders findings by file (in order of first appearance), then line and column, so each
/// file's findings read top to bottom whichever step found them.
fn sort_by_place(mut findings: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut files: Vec<Arc<Path>> = Vec::new();
    for d in &findings {
        if !files.contains(&d.span.file) {
            files.push(d.span.file.clone());
        }
    }
    findings.sort_by_key(|d| {
        (
            files.iter().position(|f| *f == d.span.file),
            d.span.line,
            d.span.column,
        )
    });
    findings
}

/// The outcome of linting one file offline.
#[derive(Debug)]
pub struct Linted {
    /// Findings.
    pub diagnostics: Vec<Diagnostic>,
    /// The compiled config, when the file is a config that compiles (for online checks).
    pub(crate) config: Option<LintedConfig>,
}

/// A compiled config and where its realms' issuers are written.
#[derive(Debug)]
pub(crate) struct LintedConfig {
    /// The compiled config.
    pub(crate) config: Config,
    /// Per realm (config order): the span of its `issuer`.
    pub(crate) issuer_spans: Vec<Span>,
}

/// Lints one file's text offline. Never panics, whatever the text.
pub fn lint_source(file: &Arc<Path>, text: &str, kind: Option<FileKind>) -> Linted {
    let mut diags = Diagnostics::default();
    let kind = match kind {
        Some(k) => Some(k),
        None => detect_kind(file, text, &mut diags),
    };
    let config = match kind {
        Some(FileKind::Policy) => {
            lint_policy(file, text, &mut diags);
            None
        }
        Some(FileKind::Config) => lint_config(file, text, &mut diags),
        None => None,
    };
    Linted {
        diagnostics: diags.into_vec(),
        config,
    }
}

/// Tells a config from a policy by its top-level keys (a misspelt key counts for the kind it
/// is closest to). Records a finding and returns `None` when it cannot tell.
fn detect_kind(file: &Arc<Path>, text: &str, diags: &mut Diagnostics) -> Option<FileKind> {
    let Ok(top) = serde_saphyr::from_str::<BTreeMap<String, IgnoredAny>>(text) else {
        // Not a mapping with string keys: report the YAML error if there is one.
        if parse_yaml::<IgnoredAny>(file, text, diags).is_some() {
            diags
                .error(
                    Span::file(file),
                    "",
                    "expected a mapping: a config (with `realms:`) or a policy (with `grants:`)",
                )
                .hint("pass --kind config or --kind policy to check it as one");
        }
        return None;
    };
    let (mut config, mut policy) = (0, 0);
    for key in top.keys() {
        if CONFIG_KEYS.contains(&key.as_str()) {
            config += 2;
        } else if POLICY_KEYS.contains(&key.as_str()) {
            policy += 2;
        } else {
            let c = zeebe_authz_core::diag::suggest(key, CONFIG_KEYS.iter().copied()).is_some();
            let p = zeebe_authz_core::diag::suggest(key, POLICY_KEYS.iter().copied()).is_some();
            config += usize::from(c && !p);
            policy += usize::from(p && !c);
        }
    }
    match config.cmp(&policy) {
        std::cmp::Ordering::Greater => Some(FileKind::Config),
        std::cmp::Ordering::Less => Some(FileKind::Policy),
        std::cmp::Ordering::Equal => {
            diags
                .error(
                    Span::file(file),
                    "",
                    "cannot tell whether this is a config (`realms:`) or a policy (`grants:`)",
                )
                .hint("pass --kind config or --kind policy");
            None
        }
    }
}

/// Where a config's realms point, read leniently (the compile step reports schema errors).
#[derive(Debug, Default, Deserialize)]
struct ConfigLocations {
    #[serde(default)]
    realms: Vec<RealmLocations>,
}

#[derive(Debug, Deserialize)]
struct RealmLocations {
    #[serde(default)]
    issuer: Option<Spanned<String>>,
    #[serde(default)]
    policy: Option<String>,
}

fn lint_config(file: &Arc<Path>, text: &str, diags: &mut Diagnostics) -> Option<LintedConfig> {
    let config = config::compile(file, text, &zeebe_authz_server::disk::Disk, diags);
    let locations: ConfigLocations = serde_saphyr::from_str(text).unwrap_or_default();
    // The policies the config names get the policy checks too (their compile errors were
    // reported by the config compile already; duplicates are dropped at the end).
    let mut seen = BTreeSet::new();
    for realm in &locations.realms {
        let Some(policy) = &realm.policy else {
            continue;
        };
        let path = resolve_relative(file, policy);
        if !path.is_file() || !seen.insert(path.clone()) {
            continue;
        }
        if let Ok(Ok(text)) = zeebe_authz_server::disk::read_file(&path).map(String::from_utf8) {
            lint_policy(&Arc::from(path.as_path()), &text, diags);
        }
    }
    let config = config?;
    // What `serve` refuses on this host: an https key source with no CA to trust it with.
    config::report_untrusted_sources(
        &config,
        file,
        zeebe_authz_server::jwks::system_store_present(),
        diags,
    );
    if config.realms.len() != locations.realms.len() {
        return None;
    }
    let issuer_spans: Vec<Span> = locations
        .realms
        .iter()
        .map(|r| {
            r.issuer
                .as_ref()
                .map_or_else(|| Span::file(file), |i| Span::of(file, i))
        })
        .collect();
    issuers::warn_catch_all_sharing_an_issuer(&config, &issuer_spans, diags);
    Some(LintedConfig {
        config,
        issuer_spans,
    })
}

/// The shape of a policy's grants as written, read leniently (the compile step reports schema
/// errors): where the list is, and how many rpc names each grant writes.
#[derive(Debug, Default, Deserialize)]
struct PolicyShape {
    #[serde(default)]
    grants: Option<Spanned<Vec<GrantShape>>>,
    #[serde(default)]
    authorizations: Vec<Spanned<IgnoredAny>>,
}

#[derive(Debug, Deserialize)]
struct GrantShape {
    #[serde(default)]
    rpcs: Vec<IgnoredAny>,
}

/// Compiles a policy and, when it compiles, runs the lint-only analyses on it.
fn lint_policy(file: &Arc<Path>, text: &str, diags: &mut Diagnostics) {
    // A policy alone names no realm: it is compiled as for a Camunda that checks its
    // authorizations, and what a realm with `engine_authorizations: false` (the default) would
    // lose is told as notes (a config's realms get them as warnings).
    let with_engine = policy::PolicyOptions {
        engine_authorizations: true,
    };
    let Some(policy) = policy::compile_with(file, text, with_engine, diags) else {
        return;
    };
    let mut without_engine = Diagnostics::default();
    let _ = policy::compile(file, text, &mut without_engine);
    for lost in without_engine
        .into_vec()
        .into_iter()
        .filter(|d| d.message.contains("engine_authorizations is false"))
    {
        let note = diags.note(lost.span, lost.key, lost.message);
        if let Some(hint) = lost.hint {
            note.hint(hint);
        }
    }
    let shape: PolicyShape = serde_saphyr::from_str(text).unwrap_or_default();
    let grants_span = shape
        .grants
        .as_ref()
        .map_or_else(|| Span::file(file), |g| Span::of(file, g));
    let written: Vec<usize> = shape
        .grants
        .map(|g| g.value.iter().map(|g| g.rpcs.len()).collect())
        .unwrap_or_default();
    let authorizations: Vec<Span> = shape
        .authorizations
        .iter()
        .map(|a| Span::of(file, a))
        .collect();
    analyze_policy(&policy, grants_span, &written, diags);
    engine::camunda_findings(&policy, &authorizations, diags);
}

/// The lint-only analyses of a compiled policy (all warnings: the policy works, but probably
/// not as meant). `written[i]` is how many rpc names grant `i` lists in the file.
fn analyze_policy(policy: &Policy, grants_span: Span, written: &[usize], diags: &mut Diagnostics) {
    let grants = policy.grants();
    for (i, g) in grants.iter().enumerate() {
        if g.authorization().is_some() {
            // Authorizations are analysed by `engine::camunda_findings`.
            continue;
        }
        let permission = &*g.permission;
        if permission
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            diags
                .warning(
                    g.span.clone(),
                    format!("grants[{i}].permission"),
                    format!(
                        "permission '{}' contains whitespace or control characters; Identity permissions (Keycloak client roles) are single words, so no token carries it and this grant never matches",
                        permission.escape_debug()
                    ),
                )
                .hint("use the permission's exact name as shown in Identity, e.g. write:* or CreateProcessInstance");
        }
        if g.rpcs.is_empty() {
            // A literally empty list is reported by the compile step; a list of empty groups
            // is not.
            if written.get(i).is_some_and(|n| *n > 0) {
                diags
                    .warning(
                        g.span.clone(),
                        format!("grants[{i}].rpcs"),
                        "grant resolves to no rpc (the groups it names are empty) and can never match",
                    )
                    .hint("add rpcs to the groups or remove the grant");
            }
            continue;
        }
        rules::condition_not_applied(i, g, diags);
        if let Some(j) = rules::shadowing_grant(grants, i) {
            diags
                .warning(
                    g.span.clone(),
                    format!("grants[{i}]"),
                    format!(
                        "grant is shadowed by grants[{j}], which already gives permission '{permission}' every rpc listed here without conditions"
                    ),
                )
                .hint(format!("remove this grant or merge its rpcs into grants[{j}]"));
        } else if policy.rpc_named_permissions()
            && !g.is_conditional()
            && Rpc::from_grpc_name(permission)
                .is_some_and(|r| RpcSet::EMPTY.with(r).is_superset(g.rpcs))
        {
            diags
                .warning(
                    g.span.clone(),
                    format!("grants[{i}]"),
                    format!(
                        "grant is shadowed by rpc_named_permissions, which already lets permission '{permission}' call {permission}"
                    ),
                )
                .hint("remove this grant");
        }
    }

    let granted = policy.granted_somewhere();
    let uncovered: Vec<&str> = Rpc::all()
        .filter(|r| !granted.contains(*r))
        .map(Rpc::name)
        .collect();
    if !uncovered.is_empty() {
        let (what, hint) = if policy.dialect().is_some() {
            (
                "no grant or authorization",
                "grant them to a permission or an owner (x-RPC names any rpc); ignore if intended",
            )
        } else {
            (
                "no permission",
                "grant them to a permission (e.g. write:*), or set rpc_named_permissions: true; ignore if intended",
            )
        };
        diags
            .warning(
                grants_span,
                "grants",
                format!(
                    "{what} grants {} rpc(s), so every call to them is denied: {}",
                    uncovered.len(),
                    uncovered.join(", ")
                ),
            )
            .hint(hint);
    }
}

/// Drops repeated findings (a policy reached directly and through a config), keeping the first.
fn dedup(findings: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut seen = BTreeSet::new();
    findings
        .into_iter()
        .filter(|d| {
            let file =
                std::fs::canonicalize(&d.span.file).unwrap_or_else(|_| d.span.file.to_path_buf());
            seen.insert((
                file,
                d.span.line,
                d.span.column,
                d.severity,
                d.key.clone(),
                d.message.clone(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests;
