//! The `check` target: the whole Check pipeline against the grants of `policies/dev.yaml`.

use super::*;

/// The host of the dev realm and of the other realm.
pub(crate) const DEV_HOST: &str = "zeebe.example.com";
pub(crate) const OTHER_HOST: &str = "other.example.com";
pub(crate) const OTHER_ISSUER: &str = "https://keycloak.example.com/realms/other";
/// How long one Check may wait for keys.
pub(crate) const CHECK_DEADLINE: Duration = Duration::from_secs(2);

/// The pre-minted tokens, by the index a [`Call`] names them with; then "no header" and
/// "garbage" (the call's text).
pub const TOKEN_NAMES: &[&str] = &[
    "WRITE",     // write:*: every rpc
    "READ",      // read:*: Topology
    "TENANT",    // tenant:write, holding tenant-a
    "WORKER",    // worker:payment: the job rpcs, job types payment*
    "NAMED",     // rpc-named permissions CreateProcessInstance and Topology
    "OTHER",     // write:* of the other realm
    "EXPIRED",   // write:*, exp an hour ago
    "FORGED",    // write:*, the dev kid, signed by another RSA key
    "WRONG_ALG", // write:*, the dev kid, signed ES256
    "UNSIGNED",  // write:*, alg none
    "WRONG_AUD", // write:*, aud other-api
    "NOT_YET",   // write:*, nbf in an hour
    "WRONG_ISS", // write:*, signed by the dev key, iss of the other realm
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RealmId {
    Dev,
    Other,
}

/// What a valid token's permissions grant under `policies/dev.yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    Everything,
    Read,
    Named,
    Tenant,
    Worker,
}

pub(crate) struct MintedToken {
    jwt: String,
    /// The realm that accepts it and what it grants there; `None`: no realm accepts it.
    valid: Option<(RealmId, Grant)>,
    subject: String,
}

pub(crate) struct CheckWorld {
    runtime: tokio::runtime::Runtime,
    realms: Vec<(RealmConfig, Arc<JwksCache>)>,
    metrics: Arc<Metrics>,
    tokens: Vec<MintedToken>,
}

pub(crate) fn check_world() -> &'static CheckWorld {
    static WORLD: OnceLock<CheckWorld> = OnceLock::new();
    WORLD.get_or_init(|| {
        use zeebe_authz::dev::{
            AUDIENCE as DEV_AUDIENCE, KEY_ID as DEV_KEY_ID, TENANTS_CLAIM as DEV_TENANTS_CLAIM,
        };
        let dev_issuer = ISSUER.replace("camunda", "dev");
        let realm = |name: &str, issuer: &str, host: &str| RealmConfig {
            name: name.into(),
            issuer: issuer.into(),
            audiences: Box::new([DEV_AUDIENCE.into()]),
            jwks_uri: None,
            hosts: Box::new([host.into()]),
            policy: dev_policy().clone(),
            permissions_claim: ClaimPath::new(["permissions", DEV_AUDIENCE]),
            tenants_claim: Some(ClaimPath::new([DEV_TENANTS_CLAIM])),
            tenants_prefix: None,
            mode: RealmMode::Enforce,
            token_type: zeebe_authz_core::token::verify::TokenType::Required,
            engine_authorizations: false,
            rest_base_path: zeebe_authz_core::rest::DEFAULT_BASE_PATH.into(),
        };
        let metrics = shared_metrics();
        let configs = [
            realm("dev", &dev_issuer, DEV_HOST),
            realm("other", OTHER_ISSUER, OTHER_HOST),
        ];
        // As `serve --dev`: RS256 for the dev realm; ES256 for the other one.
        let dev_key = SigningKey::generate(DEV_KEY_ID).expect("RSA key");
        let other_key = SigningKey::generate_for(Algorithm::ES256, "other-1").expect("EC key");
        let forger = SigningKey::generate(DEV_KEY_ID).expect("RSA key");
        let wrong_alg = SigningKey::generate_for(Algorithm::ES256, DEV_KEY_ID).expect("EC key");
        let realms: Vec<_> = configs
            .into_iter()
            .zip([&dev_key, &other_key])
            .map(|(config, key)| {
                let cache = key_cache(&config, &metrics);
                let doc = zeebe_authz_core::signing::jwks(&[key]).to_string();
                let keys =
                    KeySet::from_jwks(doc.as_bytes(), tokio::time::Instant::now().into_std())
                        .expect("the issuer's JWKS loads");
                cache.install(keys);
                (config, cache)
            })
            .collect();

        let claims = |issuer: &str, client: &str, permissions: &[&str], tenants: &[&str]| {
            let mut c = access_token_claims(issuer, DEV_AUDIENCE, client, permissions, 12 * 3600);
            c[DEV_TENANTS_CLAIM] = json!(tenants);
            c
        };
        let write = || claims(&dev_issuer, "dev-writer", &["write:*"], &[]);
        let edited = |edit: &dyn Fn(&mut Value)| {
            let mut c = write();
            edit(&mut c);
            c
        };
        let now = zeebe_authz_core::token::unix_now();
        let sign = |key: &SigningKey, c: &Value| key.sign(c).expect("signing");
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": DEV_KEY_ID}).to_string()),
            URL_SAFE_NO_PAD.encode(write().to_string())
        );
        let valid = |realm, grant| Some((realm, grant));
        let minted = [
            (
                sign(&dev_key, &write()),
                valid(RealmId::Dev, Grant::Everything),
            ),
            (
                sign(
                    &dev_key,
                    &claims(&dev_issuer, "dev-reader", &["read:*"], &[]),
                ),
                valid(RealmId::Dev, Grant::Read),
            ),
            (
                sign(
                    &dev_key,
                    &claims(&dev_issuer, "dev-tenant", &["tenant:write"], &["tenant-a"]),
                ),
                valid(RealmId::Dev, Grant::Tenant),
            ),
            (
                sign(
                    &dev_key,
                    &claims(&dev_issuer, "dev-worker", &["worker:payment"], &[]),
                ),
                valid(RealmId::Dev, Grant::Worker),
            ),
            (
                sign(
                    &dev_key,
                    &claims(
                        &dev_issuer,
                        "dev-named",
                        &["CreateProcessInstance", "Topology"],
                        &[],
                    ),
                ),
                valid(RealmId::Dev, Grant::Named),
            ),
            (
                sign(
                    &other_key,
                    &claims(OTHER_ISSUER, "other-writer", &["write:*"], &[]),
                ),
                valid(RealmId::Other, Grant::Everything),
            ),
            (
                sign(
                    &dev_key,
                    &edited(&|c| {
                        c["exp"] = json!(now - 3600);
                        c["iat"] = json!(now - 7200);
                    }),
                ),
                None,
            ),
            (sign(&forger, &write()), None),
            (sign(&wrong_alg, &write()), None),
            (unsigned, None),
            (
                sign(&dev_key, &edited(&|c| c["aud"] = json!("other-api"))),
                None,
            ),
            (
                sign(&dev_key, &edited(&|c| c["nbf"] = json!(now + 3600))),
                None,
            ),
            (
                sign(&dev_key, &edited(&|c| c["iss"] = json!(OTHER_ISSUER))),
                None,
            ),
        ];
        assert_eq!(minted.len(), TOKEN_NAMES.len());
        let tokens = minted
            .into_iter()
            .map(|(jwt, valid)| {
                let payload = jwt.split('.').nth(1).unwrap_or_default();
                let claims: Value = URL_SAFE_NO_PAD
                    .decode(payload)
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .expect("minted claims");
                let subject = claims["sub"].as_str().unwrap_or_default().to_string();
                MintedToken {
                    jwt,
                    valid,
                    subject,
                }
            })
            .collect();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        CheckWorld {
            runtime,
            realms,
            metrics,
            tokens,
        }
    })
}

/// The one call of `envoy::check`, so a signature change is a one-line change: the verdict,
/// and the bytes the service writes for it, decoded as Envoy decodes them.
pub(crate) async fn run_check(authorizer: &Authorizer, request: &CheckRequest) -> CheckResponse {
    let deadline = tokio::time::Instant::now() + CHECK_DEADLINE;
    let verdict = zeebe_authz_server::envoy::check(authorizer, request, Some(deadline)).await;
    let bytes = zeebe_authz_server::envoy::response_bytes(&verdict);
    CheckResponse::decode(&bytes[..]).expect("the service's CheckResponse bytes decode")
}

pub(crate) fn pick<'a>(table: &[&'a str], index: u8, text: &'a str) -> &'a str {
    table.get(usize::from(index)).copied().unwrap_or(text)
}

/// A Check request built from a [`Call`], with what the oracle needs to judge it.
#[derive(Debug)]
pub(crate) struct Built {
    pub(crate) request: CheckRequest,
    pub(crate) host: String,
    pub(crate) path: String,
    pub(crate) authorization: Option<String>,
    /// The minted token the header was made from (an index into the world's tokens).
    pub(crate) token: Option<usize>,
    pub(crate) partial: Option<String>,
    /// A REST call's method and content type (`None`: a gRPC call).
    pub(crate) rest: Option<RestCall>,
}

pub(crate) fn build(world: &CheckWorld, call: &Call) -> Built {
    let text = String::from_utf8_lossy(&call.text).into_owned();
    let tokens = world.tokens.len();
    let choice = usize::from(call.token) % (tokens + 2);
    let authorization = match choice {
        i if i < tokens => {
            let jwt = &world.tokens[i].jwt;
            let form = FORMS.get(usize::from(call.form)).unwrap_or(&"Bearer {}");
            Some(form.replacen("{}", jwt, 1).replacen("{}", &text, 1))
        }
        i if i == tokens => None,
        _ => Some(text.clone()),
    };
    let token = (choice < tokens).then_some(choice);
    let host = pick(HOSTS, call.host % (HOSTS.len() as u8 + 1), &text).to_string();
    if call.raw_headers & 2 != 0 {
        return build_rest(call, &text, authorization, token, host);
    }
    let count = Rpc::all().count();
    let rpc = Rpc::all()
        .nth(usize::from(call.rpc) % count)
        .expect("an rpc");
    let path = match usize::from(call.path % PATH_CHOICES) {
        i if i < PATHS.len() => PATHS[i].replace("{}", rpc.name()),
        i if i == PATHS.len() => text.clone(),
        _ => PATHS[0].replace("{}", rpc.name()),
    };
    let body_rpc = match call.body_rpc {
        0 => rpc,
        n => Rpc::all().nth(usize::from(n - 1) % count).expect("an rpc"),
    };
    let message = |m: &MessageChoice| {
        let field =
            |table: &'static [&'static str], i: u8| pick(table, i % (table.len() as u8 + 1), &text);
        let tenants: Vec<String> = (0..m.tenants % 3)
            .map(|i| field(TENANTS, m.tenant[usize::from(i)]).to_string())
            .collect();
        request_message(body_rpc.name(), &tenants, field(JOB_TYPES, m.job_type))
    };
    let (first, second) = (message(&call.first), message(&call.second));
    let raw_body = match call.body as usize % BODIES.len() {
        0 => Vec::new(),
        1 => body::frame(&first),
        2 => frame_flagged(1, &gzip(&first)),
        3 => frame_flagged(1, &[gzip(&first), gzip(&second)].concat()),
        4 => body::frame(&[first, second].concat()),
        5 => call.text.clone(),
        6 => frame_flagged(1, &[&gzip(&first)[..], &call.text].concat()),
        7 => frame_flagged(1, &first),
        8 => frame_flagged(0, &gzip(&first)),
        9 => {
            let mut f = body::frame(&first);
            f.pop();
            f
        }
        _ => [body::frame(&first), body::frame(&second)].concat(),
    };
    let compressed = raw_body.first() == Some(&1);
    let after_zero = |i: u8| usize::from(i).checked_sub(1);
    let encoding = match after_zero(call.encoding).and_then(|i| ENCODINGS.get(i)) {
        Some(e) => e.map(str::to_string),
        None => compressed.then(|| "gzip".to_string()),
    };
    let partial = after_zero(call.partial)
        .and_then(|i| PARTIALS.get(i))
        .map(|p| p.to_string());

    let mut headers = vec![("content-type", "application/grpc".to_string())];
    for (name, value) in [
        ("authorization", &authorization),
        ("grpc-encoding", &encoding),
        ("x-envoy-auth-partial-body", &partial),
    ] {
        if let Some(v) = value {
            headers.push((name, v.clone()));
        }
    }
    let request = check_request("POST", &host, &path, headers, raw_body, call.raw_headers);
    Built {
        request,
        host,
        path,
        authorization,
        token,
        partial,
        rest: None,
    }
}

/// A Check request of these attributes; headers in `headers` when `raw_headers` is even,
/// else in `header_map` as raw values.
pub(crate) fn check_request(
    method: &str,
    host: &str,
    path: &str,
    headers: Vec<(&str, String)>,
    raw_body: Vec<u8>,
    raw_headers: u8,
) -> CheckRequest {
    let mut http = HttpRequest {
        method: method.into(),
        host: host.into(),
        path: path.into(),
        raw_body,
        protocol: "HTTP/2".into(),
        ..Default::default()
    };
    if raw_headers.is_multiple_of(2) {
        http.headers = headers
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    } else {
        let headers = headers
            .into_iter()
            .map(|(k, v)| HeaderValue {
                key: k.into(),
                value: String::new(),
                raw_value: v.into_bytes(),
            })
            .collect();
        http.header_map = Some(HeaderMap { headers });
    }
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(http),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

/// A request of `rpc` carrying the given tenants and job type where the message has them.
pub(crate) fn request_message(rpc: &str, tenants: &[String], job_type: &str) -> Vec<u8> {
    let tenant = tenants.first().cloned().unwrap_or_default();
    match rpc {
        "ActivateJobs" => proto::ActivateJobsRequest {
            r#type: job_type.into(),
            worker: "fuzz".into(),
            max_jobs_to_activate: 1,
            tenant_ids: tenants.to_vec(),
            ..Default::default()
        }
        .encode_to_vec(),
        "StreamActivatedJobs" => proto::StreamActivatedJobsRequest {
            r#type: job_type.into(),
            tenant_ids: tenants.to_vec(),
            ..Default::default()
        }
        .encode_to_vec(),
        "CreateProcessInstance" => proto::CreateProcessInstanceRequest {
            bpmn_process_id: "order".into(),
            tenant_id: tenant,
            ..Default::default()
        }
        .encode_to_vec(),
        "CreateProcessInstanceWithResult" => proto::CreateProcessInstanceWithResultRequest {
            request: Some(proto::CreateProcessInstanceRequest {
                bpmn_process_id: "order".into(),
                tenant_id: tenant,
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec(),
        "DeployResource" => proto::DeployResourceRequest {
            resources: vec![proto::Resource {
                name: "a.bpmn".into(),
                content: b"<xml/>".to_vec(),
            }],
            tenant_id: tenant,
        }
        .encode_to_vec(),
        "PublishMessage" => proto::PublishMessageRequest {
            name: "m".into(),
            tenant_id: tenant,
            ..Default::default()
        }
        .encode_to_vec(),
        "BroadcastSignal" => proto::BroadcastSignalRequest {
            signal_name: "s".into(),
            tenant_id: tenant,
            ..Default::default()
        }
        .encode_to_vec(),
        "EvaluateDecision" => proto::EvaluateDecisionRequest {
            decision_id: "d".into(),
            tenant_id: tenant,
            ..Default::default()
        }
        .encode_to_vec(),
        "EvaluateConditional" => proto::EvaluateConditionalRequest {
            tenant_id: tenant,
            ..Default::default()
        }
        .encode_to_vec(),
        _ => Vec::new(),
    }
}

/// The input as up to four Checks through one fresh authorizer (fresh token cache: an input
/// decides the same on every run; the second use of a token in an input is a cache hit).
pub fn check(data: &[u8]) {
    let world = check_world();
    for (b, response) in check_responses(data) {
        if let Err(why) = judge(world, &b, &response) {
            panic!(
                "{why}\nhost {:?} path {:?} authorization {:?}\n{response:?}",
                b.host, b.path, b.authorization
            );
        }
    }
}

/// The calls of a `check` input and the answers of one fresh authorizer to them.
pub(crate) fn check_responses(data: &[u8]) -> Vec<(Built, CheckResponse)> {
    let world = check_world();
    let built: Vec<Built> = Call::decode_all(data)
        .iter()
        .map(|c| build(world, c))
        .collect();
    let token_settings = TokenSettings {
        // Small (~64 ordinary principals), so eviction is fuzzed too.
        cache_max_bytes: 16 << 10,
        ..TokenSettings::default()
    };
    let authorizer = Authorizer::new(
        Realms::new(world.realms.clone(), LEEWAY, None),
        &token_settings,
        // Everything an answer can carry, so that every identity header and metadata entry is
        // checked (the defaults send less).
        IdentityHeaders {
            send: IdentitySet::All,
            ..IdentityHeaders::default()
        },
        MetadataSet::All,
        world.metrics.clone(),
    );
    let responses = world.runtime.block_on(async {
        let mut responses = Vec::new();
        for b in &built {
            responses.push(run_check(&authorizer, &b.request).await);
        }
        responses
    });
    built.into_iter().zip(responses).collect()
}

/// Never allow what `policies/dev.yaml` does not grant: an allow needs an exact gateway rpc
/// path, a host of a realm, an intact valid token of that realm, a grant of the rpc, and, for
/// a conditional grant, a body that meets the condition as the gateway decodes it.
pub(crate) fn judge(world: &CheckWorld, b: &Built, response: &CheckResponse) -> Result<(), String> {
    let code = response.status.as_ref().map(|s| s.code);
    let ok_response = matches!(response.http_response, Some(HttpResponse::OkResponse(_)));
    if (code == Some(0)) != ok_response {
        return Err(format!(
            "status {code:?} with an http_response that disagrees"
        ));
    }
    if !ok_response {
        return Ok(());
    }
    let rpc = match &b.rest {
        Some(_) => None,
        None => Some(
            b.path
                .strip_prefix(GATEWAY_PATH_PREFIX)
                .and_then(Rpc::from_grpc_name)
                .ok_or("allowed a path that is not exactly a gateway rpc")?,
        ),
    };
    let realm = realm_of_host(&b.host).ok_or("allowed a host no realm protects")?;
    let token = b.token.map(|i| &world.tokens[i]);
    let intact = |t: &MintedToken| {
        let words: Vec<&str> = b
            .authorization
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        words.last() == Some(&t.jwt.as_str()) && words.len() <= 2
    };
    let (token, grant) = match token {
        Some(t) if intact(t) => match t.valid {
            Some((r, grant)) if r == realm => (t, grant),
            Some(_) => return Err("allowed a token of another realm".into()),
            None => return Err("allowed an invalid token".into()),
        },
        _ => return Err("allowed a request without an intact minted token".into()),
    };
    let names = IdentityHeaders::default();
    let realm_name = match realm {
        RealmId::Dev => "dev",
        RealmId::Other => "other",
    };
    for (header, want) in [
        (&names.realm, realm_name),
        (&names.subject, token.subject.as_str()),
    ] {
        let found = ok_headers(response)
            .find(|(k, _)| *k == &**header)
            .map(|(_, v)| v);
        if found != Some(want) {
            return Err(format!(
                "identity header {header} is {found:?}, want {want:?}"
            ));
        }
    }
    let Some(rpc) = rpc else {
        return judge_rest(b, grant);
    };
    match dev_policy_needs(grant, rpc.name()) {
        Need::Never => Err(format!("{grant:?} does not grant {rpc}")),
        Need::Always => Ok(()),
        need => check_condition(b, rpc.name(), need),
    }
}

pub(crate) fn ok_headers(response: &CheckResponse) -> impl Iterator<Item = (&str, &str)> {
    let ok = match &response.http_response {
        Some(HttpResponse::OkResponse(ok)) => Some(ok),
        _ => None,
    };
    ok.into_iter()
        .flat_map(|ok| &ok.headers)
        .filter_map(|h| h.header.as_ref())
        .map(|h| (h.key.as_str(), h.value.as_str()))
}

/// The realm of an authority: DNS names compare case-insensitively, a port (digits after the
/// last `:`, possibly none) and one trailing root dot do not change the host.
pub(crate) fn realm_of_host(host: &str) -> Option<RealmId> {
    let lower = host.to_ascii_lowercase();
    let name = match lower.rsplit_once(':') {
        Some((name, port))
            if !name.is_empty()
                && !name.contains(':')
                && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            name
        }
        _ => &lower,
    };
    match name.strip_suffix('.').unwrap_or(name) {
        DEV_HOST => Some(RealmId::Dev),
        OTHER_HOST => Some(RealmId::Other),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    Never,
    Always,
    /// Every tenant of the request is one the token holds (the TENANT token: `tenant-a`).
    TenantHeld,
    /// The job type starts with `payment`.
    JobTypePayment,
}

/// The grants of `policies/dev.yaml`, written out by hand.
pub(crate) fn dev_policy_needs(grant: Grant, rpc: &str) -> Need {
    let carries_tenant = FIELDS
        .iter()
        .any(|f| f.0 == rpc && f.1 == ConditionKind::Tenant);
    match grant {
        Grant::Everything => Need::Always,
        Grant::Read if rpc == "Topology" => Need::Always,
        Grant::Named if matches!(rpc, "CreateProcessInstance" | "Topology") => Need::Always,
        // DeployProcess always deploys to <default>, which the TENANT token does not hold.
        Grant::Tenant if rpc == "DeployProcess" => Need::Never,
        Grant::Tenant if carries_tenant => Need::TenantHeld,
        Grant::Tenant => Need::Always,
        Grant::Worker => match rpc {
            "ActivateJobs" | "StreamActivatedJobs" => Need::JobTypePayment,
            "CompleteJob" | "FailJob" | "ThrowError" | "UpdateJobRetries" | "UpdateJobTimeout" => {
                Need::Always
            }
            _ => Need::Never,
        },
        _ => Need::Never,
    }
}

/// A conditional allow: the body Envoy forwarded must be whole, and what the gateway decodes
/// from it (prost, and the protobuf-java model) must meet the condition. A body the gateway
/// cannot decode runs nothing, so it proves nothing either way.
pub(crate) fn check_condition(b: &Built, rpc: &str, need: Need) -> Result<(), String> {
    if b.partial
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case("true"))
    {
        return Err(format!("{rpc}: allowed on a condition with a partial body"));
    }
    let raw = b
        .request
        .attributes
        .as_ref()
        .and_then(|a| a.request.as_ref())
        .and_then(|r| r.http.as_ref())
        .map_or(&[][..], |h| &h.raw_body);
    let Some(message) = gateway_message(raw) else {
        return Ok(());
    };
    for (gateway, seen) in [
        ("prost", prost_fields(rpc, &message)),
        ("protobuf-java model", java_fields(rpc, &message)),
    ] {
        let Some(seen) = seen else { continue };
        let value = |kind| seen.iter().find(|(k, _)| *k == kind).map(|(_, v)| v);
        let ok = match (
            need,
            value(ConditionKind::Tenant),
            value(ConditionKind::JobType),
        ) {
            (Need::TenantHeld, Some(Seen::One(t)), _) => held(std::slice::from_ref(t)),
            (Need::TenantHeld, Some(Seen::Many(ts)), _) => held(ts),
            (Need::JobTypePayment, _, Some(Seen::One(ty))) => ty.starts_with("payment"),
            _ => false,
        };
        if !ok {
            return Err(format!("{rpc}: the gateway ({gateway}) runs {seen:?}"));
        }
    }
    Ok(())
}

/// Whether the TENANT token holds every tenant (an empty id or list is the default tenant).
pub(crate) fn held(tenants: &[String]) -> bool {
    !tenants.is_empty() && tenants.iter().all(|t| t == "tenant-a")
}

/// The message the gateway reads from a body: exactly one frame (a unary call refuses a
/// second), inflated whole when its flag says gzip.
pub(crate) fn gateway_message(raw: &[u8]) -> Option<Vec<u8>> {
    let header = raw.get(..5)?;
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    let rest = &raw[5..];
    if rest.len() != len {
        return None;
    }
    match header[0] {
        0 => Some(rest.to_vec()),
        1 => inflate_all(rest).ok(),
        _ => None,
    }
}
