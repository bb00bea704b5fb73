//! The service configuration: one YAML file, compiled once at startup.
//!
//! `RawConfig` mirrors the file; [`compile`] validates all of it (and the policies it names)
//! and returns either a [`Config`] or every finding at once, each with file, line, key and
//! reason. `serve` exits with `EXIT_CONFIG` before binding any port when there is an error.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ahash::AHashSet;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::claims::ClaimPath;
use crate::decision::{IdentityHeaders, IdentitySet, MetadataSet};
use crate::diag::{Diagnostics, Span, parse_yaml, resolve_relative};
use crate::files::{Files, read_source};
pub use crate::outcome::RealmMode;
use crate::policy::{self, Policy};
use crate::token::bearer::DEFAULT_MAX_TOKEN_BYTES;

use crate::token::verify::TokenType;

pub mod settings;
pub use settings::ConnectionSettings;
pub use settings::JwksSettings;
use settings::{DEFAULT_CACHE_MAX_BYTES, DEFAULT_CACHE_MAX_TTL};

mod sections;
mod trust;

pub use trust::{check_trust, report_untrusted_sources};

/// Exit code for configuration errors (`EX_USAGE` in sysexits.h).
pub const EXIT_CONFIG: i32 = 64;
/// The default Check (ext_authz gRPC) address.
pub const DEFAULT_CHECK_ADDR: &str = "0.0.0.0:9000";
/// The default admin HTTP address.
pub const DEFAULT_ADMIN_ADDR: &str = "0.0.0.0:9001";
/// The default clock leeway for token times.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    listen: Option<RawListen>,
    realms: Spanned<Vec<RawRealm>>,
    #[serde(default)]
    jwks: Option<RawJwks>,
    #[serde(default)]
    token: Option<RawToken>,
    #[serde(default)]
    identity_headers: Option<RawHeaders>,
    #[serde(default)]
    dynamic_metadata: Option<RawMetadata>,
    #[serde(default)]
    server: Option<RawServer>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    max_connections: Option<Spanned<usize>>,
    header_timeout: Option<Spanned<String>>,
    idle_timeout: Option<Spanned<String>>,
    keepalive_interval: Option<Spanned<String>>,
    keepalive_timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListen {
    check: Option<Spanned<String>>,
    admin: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRealm {
    name: Spanned<String>,
    issuer: Spanned<String>,
    audiences: Spanned<Vec<String>>,
    #[serde(default)]
    jwks_uri: Option<Spanned<String>>,
    hosts: Spanned<Vec<Spanned<String>>>,
    policy: Spanned<String>,
    /// Dotted path (`permissions.zeebe-api`) or list of keys.
    #[serde(default)]
    permissions_claim: Option<Spanned<RawClaimPath>>,
    #[serde(default)]
    tenants_claim: Option<Spanned<RawClaimPath>>,
    /// Only claim values with this prefix are tenants (prefix removed), e.g. `/tenants/` for
    /// Keycloak group paths or `tenant:` for roles.
    #[serde(default)]
    tenants_prefix: Option<Spanned<String>>,
    /// `enforce` (the default) or `dry-run`.
    #[serde(default)]
    mode: Option<Spanned<String>>,
    /// `required` (the default) or `optional`: whether a token must name its type.
    #[serde(default)]
    token_type: Option<Spanned<String>>,
    /// Whether Camunda's engine enforces its authorizations (default false).
    #[serde(default)]
    engine_authorizations: Option<bool>,
    /// Where the gateway serves the REST API (`/v2`, or a context path and `/v2`).
    #[serde(default)]
    rest_base_path: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawClaimPath {
    Dotted(String),
    Keys(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJwks {
    refresh_interval: Option<Spanned<String>>,
    refetch_cooldown: Option<Spanned<String>>,
    fetch_timeout: Option<Spanned<String>>,
    keys_max_age: Option<Spanned<String>>,
    ca_bundle: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    leeway: Option<Spanned<String>>,
    max_bytes: Option<Spanned<usize>>,
    /// Replaced by `cache_max_bytes`: refused with a hint.
    cache_capacity: Option<Spanned<u64>>,
    cache_max_bytes: Option<Spanned<u64>>,
    cache_max_ttl: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeaders {
    subject: Option<Spanned<String>>,
    client_id: Option<Spanned<String>>,
    realm: Option<Spanned<String>>,
    /// `all`, `subject` (default) or `none`.
    send: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetadata {
    /// `all`, `denies` (default) or `none`.
    send: Option<Spanned<String>>,
}

/// Addresses to listen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    /// ext_authz gRPC.
    pub check: SocketAddr,
    /// Admin HTTP.
    pub admin: SocketAddr,
}

/// Token handling settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSettings {
    /// Clock leeway for `exp`, `nbf`, `iat`.
    pub leeway: Duration,
    /// Largest accepted token.
    pub max_bytes: usize,
    /// Bound of the verified-token cache's estimated weight, in bytes.
    pub cache_max_bytes: u64,
    /// Longest life of a cache entry.
    pub cache_max_ttl: Duration,
}

impl Default for TokenSettings {
    fn default() -> Self {
        TokenSettings {
            leeway: DEFAULT_LEEWAY,
            max_bytes: DEFAULT_MAX_TOKEN_BYTES,
            cache_max_bytes: DEFAULT_CACHE_MAX_BYTES,
            cache_max_ttl: DEFAULT_CACHE_MAX_TTL,
        }
    }
}

/// One realm: a Keycloak issuer, the hosts it protects and its policy.
#[derive(Debug, Clone)]
pub struct RealmConfig {
    /// A short name for logs, metrics and the realm header.
    pub name: Arc<str>,
    /// The exact `iss`.
    pub issuer: Arc<str>,
    /// Accepted audiences.
    pub audiences: Box<[Box<str>]>,
    /// Explicit JWKS URL (else discovered).
    pub jwks_uri: Option<Arc<str>>,
    /// `:authority` values in the normal form of `crate::host` (lower case, no trailing
    /// dot); `*` matches any host no other realm claims.
    pub hosts: Box<[Box<str>]>,
    /// The compiled policy.
    pub policy: Arc<Policy>,
    /// Where permissions are in the token.
    pub permissions_claim: ClaimPath,
    /// Where tenants are in the token.
    pub tenants_claim: Option<ClaimPath>,
    /// Prefix that marks (and is stripped from) tenant values of the claim.
    pub tenants_prefix: Option<Box<str>>,
    /// Whether the realm's denies are enforced or only reported.
    pub mode: RealmMode,
    /// Which token types pass for access tokens.
    pub token_type: TokenType,
    /// Whether the engine enforces its own authorizations (the policy was compiled so).
    pub engine_authorizations: bool,
    /// Where the gateway behind the realm's hosts serves the REST API (default `/v2`; the
    /// gateway's context path goes before it: `/orchestration/v2`).
    pub rest_base_path: Box<str>,
}

/// The compiled configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen addresses.
    pub listen: Listen,
    /// Realms in file order.
    pub realms: Vec<RealmConfig>,
    /// JWKS cache timing.
    pub jwks: JwksSettings,
    /// Extra CA certificates (PEM) for Keycloak's TLS.
    pub ca_bundle: Option<Vec<u8>>,
    /// Token settings.
    pub token: TokenSettings,
    /// Identity header names.
    pub identity_headers: IdentityHeaders,
    /// Which answers carry the dynamic metadata.
    pub dynamic_metadata: MetadataSet,
    /// The Check port's connection settings.
    pub server: ConnectionSettings,
    /// Every file the config was compiled from (itself, its policies, the CA bundle): what a
    /// reload watches.
    pub sources: Vec<PathBuf>,
    /// What compiled but is probably not meant (an owner no token can be, a grant of no
    /// rpc): `serve` logs these at startup and on each reload.
    pub warnings: Vec<crate::diag::Diagnostic>,
}

impl Config {
    /// Logs the config's warnings, one line each, for the operator reading `serve`'s log.
    pub fn log_warnings(&self) {
        for w in &self.warnings {
            tracing::warn!(finding = %w, "Config compiled with a warning");
        }
    }
}

/// Compiles config text, reading the files it names through `files`; `None` when an error
/// was recorded in `diags`.
pub fn compile(
    file: &Arc<Path>,
    text: &str,
    files: &dyn Files,
    diags: &mut Diagnostics,
) -> Option<Config> {
    compile_tracked(file, text, files, diags, &mut vec![file.to_path_buf()])
}

/// [`compile`], adding to `sources` each file it reads or tries to read (the config, its
/// policies, the CA bundle), also when it fails: what a reload watches.
pub fn compile_tracked(
    file: &Arc<Path>,
    text: &str,
    files: &dyn Files,
    diags: &mut Diagnostics,
    sources: &mut Vec<PathBuf>,
) -> Option<Config> {
    let raw: RawConfig = parse_yaml(file, text, diags)?;
    let errors_before = diags.error_count();
    let mut c = Compiler {
        file,
        files,
        diags,
        sources,
    };

    let listen = Listen {
        check: c.addr(
            raw.listen.as_ref().and_then(|l| l.check.as_ref()),
            "listen.check",
            DEFAULT_CHECK_ADDR,
        ),
        admin: c.addr(
            raw.listen.as_ref().and_then(|l| l.admin.as_ref()),
            "listen.admin",
            DEFAULT_ADMIN_ADDR,
        ),
    };

    let jwks = c.jwks_settings(raw.jwks.as_ref());
    let rj = raw.jwks.as_ref();
    let ca_bundle = rj.and_then(|j| j.ca_bundle.as_ref()).and_then(|p| {
        let path = resolve_relative(file, &p.value);
        if !c.sources.contains(&path) {
            c.sources.push(path.clone());
        }
        match c.files.read(&path) {
            Ok(pem) if c.files.holds_certificates(&pem) => Some(pem),
            Ok(_) => {
                c.diags.error(
                    Span::of(file, p),
                    "jwks.ca_bundle",
                    format!("{} holds no PEM certificate", path.display()),
                );
                None
            }
            Err(e) => {
                c.diags.error(
                    Span::of(file, p),
                    "jwks.ca_bundle",
                    format!("cannot read {}: {e}", path.display()),
                );
                None
            }
        }
    });

    let token = c.token_settings(raw.token.as_ref());

    let hd = IdentityHeaders::default();
    let rh = raw.identity_headers.as_ref();
    let identity_headers = IdentityHeaders {
        subject: c.header_name(
            rh.and_then(|h| h.subject.as_ref()),
            "identity_headers.subject",
            hd.subject,
        ),
        client_id: c.header_name(
            rh.and_then(|h| h.client_id.as_ref()),
            "identity_headers.client_id",
            hd.client_id,
        ),
        realm: c.header_name(
            rh.and_then(|h| h.realm.as_ref()),
            "identity_headers.realm",
            hd.realm,
        ),
        send: match rh.and_then(|h| h.send.as_ref()) {
            None => hd.send,
            Some(s) => match IdentitySet::parse(&s.value) {
                Some(set) => set,
                None => {
                    let other = &s.value;
                    c.diags
                        .error(
                            Span::of(file, s),
                            "identity_headers.send",
                            format!("'{other}' is not all, subject or none"),
                        )
                        .hint("all: subject, client id and realm; subject: the subject only; none: no identity header");
                    hd.send
                }
            },
        },
    };

    let send = raw.dynamic_metadata.as_ref().and_then(|m| m.send.as_ref());
    let dynamic_metadata = match send {
        None => MetadataSet::default(),
        Some(s) => MetadataSet::parse(&s.value).unwrap_or_else(|| {
            c.diags
                .error(
                    Span::of(file, s),
                    "dynamic_metadata.send",
                    format!("'{}' is not all, denies or none", s.value),
                )
                .hint("all: every answer; denies: denies and dry-run would-be denies; none: no answer");
            MetadataSet::default()
        }),
    };

    let server = c.server_settings(raw.server.as_ref());

    let realms = c.realms(&raw.realms);

    if c.diags.error_count() > errors_before {
        return None;
    }
    Some(Config {
        listen,
        realms,
        jwks,
        ca_bundle,
        token,
        identity_headers,
        dynamic_metadata,
        server,
        sources: c.sources.clone(),
        warnings: Vec::new(),
    })
}

struct Compiler<'a> {
    file: &'a Arc<Path>,
    files: &'a dyn Files,
    diags: &'a mut Diagnostics,
    sources: &'a mut Vec<PathBuf>,
}

impl Compiler<'_> {
    fn addr(&mut self, v: Option<&Spanned<String>>, key: &str, default: &str) -> SocketAddr {
        let fallback = default.parse().expect("default address parses");
        let Some(v) = v else { return fallback };
        v.value.parse().unwrap_or_else(|_| {
            self.diags
                .error(
                    Span::of(self.file, v),
                    key,
                    format!("'{}' is not an IP:port address", v.value),
                )
                .hint("e.g. 0.0.0.0:9000 or 127.0.0.1:0");
            fallback
        })
    }

    fn duration(&mut self, v: Option<&Spanned<String>>, key: &str, default: Duration) -> Duration {
        let Some(v) = v else { return default };
        parse_duration(&v.value).unwrap_or_else(|| {
            self.diags
                .error(
                    Span::of(self.file, v),
                    key,
                    format!("'{}' is not a duration", v.value),
                )
                .hint("use a number with a unit: 250ms, 10s, 5m, 1h");
            default
        })
    }

    /// A duration that must lie in `range` (an error names the bounds).
    fn duration_in(
        &mut self,
        v: Option<&Spanned<String>>,
        key: &str,
        default: Duration,
        range: std::ops::RangeInclusive<Duration>,
    ) -> Duration {
        let d = self.duration(v, key, default);
        if let Some(v) = v
            && !range.contains(&d)
        {
            self.diags
                .error(
                    Span::of(self.file, v),
                    key,
                    format!(
                        "'{}' is outside {:?} to {:?}",
                        v.value,
                        range.start(),
                        range.end()
                    ),
                )
                .hint("the default suits a Keycloak realm; see the README's JWKS section");
            return default;
        }
        d
    }

    fn header_name(
        &mut self,
        v: Option<&Spanned<String>>,
        key: &str,
        default: Arc<str>,
    ) -> Arc<str> {
        let Some(v) = v else { return default };
        let name = v.value.to_ascii_lowercase();
        let valid = !name.is_empty()
            && !name.starts_with(':')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !matches!(
                name.as_str(),
                "authorization" | "host" | "content-type" | "te"
            );
        if !valid {
            self.diags
                .error(
                    Span::of(self.file, v),
                    key,
                    format!("'{}' is not a usable header name", v.value),
                )
                .hint("use a lower-case name such as x-zeebe-authz-subject");
        }
        name.into()
    }

    fn realms(&mut self, raw: &Spanned<Vec<RawRealm>>) -> Vec<RealmConfig> {
        if raw.value.is_empty() {
            self.diags
                .error(Span::of(self.file, raw), "realms", "no realm configured")
                .hint("add a realm with issuer, audiences, hosts and policy");
        }
        let mut names = AHashSet::new();
        let mut host_owner: ahash::AHashMap<String, String> = ahash::AHashMap::new();
        let mut out = Vec::new();
        for (i, r) in raw.value.iter().enumerate() {
            let key = |k: &str| format!("realms[{i}].{k}");
            if r.name.value.is_empty() || !names.insert(r.name.value.clone()) {
                self.diags.error(
                    Span::of(self.file, &r.name),
                    key("name"),
                    format!("realm name '{}' is empty or used twice", r.name.value),
                );
            }
            let issuer = r.issuer.value.trim_end_matches('/');
            if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
                self.diags
                    .error(Span::of(self.file, &r.issuer), key("issuer"), format!("'{}' is not an http(s) URL", r.issuer.value))
                    .hint("Keycloak issuers look like https://HOST/realms/REALM (or /auth/realms/REALM)");
            }
            if let Some(u) = &r.jwks_uri
                && !(u.value.starts_with("https://") || u.value.starts_with("http://"))
            {
                self.diags.error(
                    Span::of(self.file, u),
                    key("jwks_uri"),
                    format!("'{}' is not an http(s) URL", u.value),
                );
            }
            if r.audiences.value.is_empty() || r.audiences.value.iter().any(String::is_empty) {
                self.diags
                    .error(
                        Span::of(self.file, &r.audiences),
                        key("audiences"),
                        "audiences must list at least one non-empty audience",
                    )
                    .hint("Camunda Identity's Zeebe audience is usually zeebe-api");
            }
            if r.hosts.value.is_empty() {
                self.diags
                    .error(Span::of(self.file, &r.hosts), key("hosts"), "hosts must list the gateway hosts this realm protects")
                    .hint("e.g. [zeebe.example.com, \"camunda-zeebe-gateway:26500\"], or [\"*\"] for any host");
            }
            let mut hosts = Vec::new();
            for h in &r.hosts.value {
                let host = crate::host::normalize(h.value.trim());
                if host.is_empty() || host.contains('/') || host.contains(' ') {
                    self.diags.error(
                        Span::of(self.file, h),
                        key("hosts"),
                        format!("'{}' is not a host or host:port", h.value),
                    );
                    continue;
                }
                if let Some(other) = host_owner.insert(host.clone(), r.name.value.clone())
                    && other != r.name.value
                {
                    self.diags
                        .error(Span::of(self.file, h), key("hosts"), format!("host '{host}' is also claimed by realm '{other}'"))
                        .hint("a host belongs to exactly one realm: a token of one realm is never accepted on another's host");
                }
                hosts.push(host.into_boxed_str());
            }
            let policy_path = resolve_relative(self.file, &r.policy.value);
            if !self.sources.contains(&policy_path) {
                self.sources.push(policy_path.clone());
            }
            let engine_authorizations = r.engine_authorizations.unwrap_or(false);
            let options = policy::PolicyOptions {
                engine_authorizations,
            };
            let policy = if self.files.is_file(&policy_path) {
                read_source(self.files, &policy_path, self.diags).and_then(|(file, text)| {
                    policy::compile_with(&file, &text, options, self.diags)
                })
            } else {
                self.diags
                    .error(
                        Span::of(self.file, &r.policy),
                        key("policy"),
                        format!("policy file {} does not exist", policy_path.display()),
                    )
                    .hint("paths are relative to the config file's folder");
                None
            };
            let first_audience = r.audiences.value.first().cloned().unwrap_or_default();
            let permissions_claim = r.permissions_claim.as_ref().map_or_else(
                || ClaimPath::new(["permissions".to_string(), first_audience]),
                |c| claim_path(&c.value),
            );
            let tenants_claim = r.tenants_claim.as_ref().map(|c| claim_path(&c.value));
            let mode = match r.mode.as_ref().map(|m| m.value.as_str()) {
                None | Some("enforce") => RealmMode::Enforce,
                Some("dry-run") => RealmMode::DryRun,
                Some(other) => {
                    let span = r
                        .mode
                        .as_ref()
                        .map_or(Span::of(self.file, &r.name), |m| Span::of(self.file, m));
                    self.diags
                        .error(
                            span,
                            key("mode"),
                            format!("mode '{other}' is neither enforce nor dry-run"),
                        )
                        .hint("dry-run allows every call and reports what enforce would deny");
                    RealmMode::Enforce
                }
            };
            let token_type = match &r.token_type {
                None => TokenType::default(),
                Some(t) => TokenType::parse(&t.value).unwrap_or_else(|| {
                    self.diags
                        .error(
                            Span::of(self.file, t),
                            key("token_type"),
                            format!("token_type '{}' is neither required nor optional", t.value),
                        )
                        .hint("required: a token must say it is an access token (typ Bearer, or the header typ at+jwt); optional: an untyped token passes too");
                    TokenType::default()
                }),
            };
            if token_type == TokenType::Optional {
                self.diags
                    .warning(
                        r.token_type.as_ref().map_or(Span::of(self.file, &r.name), |t| Span::of(self.file, t)),
                        key("token_type"),
                        "token_type: optional takes a token that names no type for an access token: an ID token of an IdP that types none passes too",
                    )
                    .hint("keep required (the default) for Keycloak, which types every token");
            }
            let rest_base_path =
                self.rest_base_path(r.rest_base_path.as_ref(), key("rest_base_path"));
            if let Some(policy) = policy {
                out.push(RealmConfig {
                    name: r.name.value.as_str().into(),
                    issuer: issuer.into(),
                    audiences: r
                        .audiences
                        .value
                        .iter()
                        .map(|a| a.as_str().into())
                        .collect(),
                    jwks_uri: r.jwks_uri.as_ref().map(|u| u.value.as_str().into()),
                    hosts: hosts.into(),
                    policy: Arc::new(policy),
                    permissions_claim,
                    tenants_claim,
                    tenants_prefix: r.tenants_prefix.as_ref().map(|p| p.value.as_str().into()),
                    mode,
                    token_type,
                    engine_authorizations,
                    rest_base_path,
                });
            }
        }
        out
    }
}

fn claim_path(raw: &RawClaimPath) -> ClaimPath {
    match raw {
        RawClaimPath::Dotted(s) => ClaimPath::from_dotted(s),
        RawClaimPath::Keys(k) => ClaimPath::new(k.iter().map(String::as_str)),
    }
}

/// Parses `250ms`, `10s`, `5m`, `1h` (a whole number and a unit).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    Some(match unit.trim() {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        _ => return None,
    })
}

/// A duration command-line argument (`500ms`, `5s`, `1m`; zero allowed): clap's value parser.
pub fn duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s).ok_or_else(|| format!("'{s}' is not a duration such as 500ms, 5s or 1m"))
}

/// A duration command-line argument that must not be zero (timeouts): clap's value parser.
pub fn positive_duration_arg(s: &str) -> Result<Duration, String> {
    match duration_arg(s)? {
        d if d.is_zero() => Err(format!("'{s}' is zero; a timeout must be longer")),
        d => Ok(d),
    }
}

#[cfg(test)]
mod tests;
