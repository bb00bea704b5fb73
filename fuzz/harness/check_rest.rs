//! The REST calls of the `check` target: a [`Call`] whose `raw_headers` has bit 1 set is a
//! request to the REST door (`/v2`), its choice bytes read anew (see [`build_rest`]), judged by
//! [`judge_rest`] after the checks every allow passes (host, token, identity headers).
//!
//! The oracle does not use the catalog: the REST twins of `policies/dev.yaml`'s rpcs are
//! written out by hand in [`REST_TWINS`] (from `docs/src/rest.md`), bodies are read with
//! serde_json (the `json` target holds the reader to it) and the deployment's parts with the
//! Tomcat model of the `multipart` target.

use super::*;

/// Where a REST twin's tenant condition finds its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantMember {
    /// `tenantId`, a string member.
    Text,
    /// `tenantIds`, an array of strings (with `tenantFilter`, which must be absent, `null` or
    /// `"PROVIDED"`).
    List,
    /// The `tenantId` part of a `multipart/form-data` body.
    Part,
}

/// A REST endpoint the `check` target calls: method, path under `/v2` (`{key}` is a key
/// variable), the rpcs it is the twin of (none: a REST-only operation, which
/// `policies/dev.yaml` grants to nobody), where its tenant is, whether it carries the job type.
pub struct RestTwin {
    pub method: &'static str,
    pub path: &'static str,
    pub rpcs: &'static [&'static str],
    pub tenant: Option<TenantMember>,
    pub job_type: bool,
}

const fn twin(method: &'static str, path: &'static str, rpcs: &'static [&'static str]) -> RestTwin {
    RestTwin {
        method,
        path,
        rpcs,
        tenant: None,
        job_type: false,
    }
}

const fn tenant(mut t: RestTwin, member: TenantMember) -> RestTwin {
    t.tenant = Some(member);
    t
}

/// Every REST twin of an rpc (docs/src/rest.md, "its rpc"), then two REST-only operations.
pub const REST_TWINS: &[RestTwin] = &[
    twin("GET", "/topology", &["Topology"]),
    RestTwin {
        job_type: true,
        ..tenant(
            twin("POST", "/jobs/activation", &["ActivateJobs"]),
            TenantMember::List,
        )
    },
    twin("POST", "/jobs/{key}/failure", &["FailJob"]),
    twin("POST", "/jobs/{key}/error", &["ThrowError"]),
    twin("POST", "/jobs/{key}/completion", &["CompleteJob"]),
    twin(
        "PATCH",
        "/jobs/{key}",
        &["UpdateJobRetries", "UpdateJobTimeout"],
    ),
    twin("POST", "/incidents/{key}/resolution", &["ResolveIncident"]),
    tenant(
        twin(
            "POST",
            "/process-instances",
            &["CreateProcessInstance", "CreateProcessInstanceWithResult"],
        ),
        TenantMember::Text,
    ),
    twin(
        "POST",
        "/process-instances/{key}/cancellation",
        &["CancelProcessInstance"],
    ),
    twin(
        "POST",
        "/process-instances/{key}/migration",
        &["MigrateProcessInstance"],
    ),
    twin(
        "POST",
        "/process-instances/{key}/modification",
        &["ModifyProcessInstance"],
    ),
    twin(
        "PUT",
        "/element-instances/{key}/variables",
        &["SetVariables"],
    ),
    tenant(
        twin(
            "POST",
            "/decision-definitions/evaluation",
            &["EvaluateDecision"],
        ),
        TenantMember::Text,
    ),
    tenant(
        twin("POST", "/conditionals/evaluation", &["EvaluateConditional"]),
        TenantMember::Text,
    ),
    tenant(
        twin("POST", "/messages/publication", &["PublishMessage"]),
        TenantMember::Text,
    ),
    tenant(
        twin("POST", "/signals/broadcast", &["BroadcastSignal"]),
        TenantMember::Text,
    ),
    tenant(
        twin("POST", "/deployments", &["DeployResource"]),
        TenantMember::Part,
    ),
    twin("POST", "/resources/{key}/deletion", &["DeleteResource"]),
    twin("POST", "/user-tasks/search", &[]),
    twin("POST", "/process-definitions/search", &[]),
];

/// Spellings of a REST path (`{}` is the endpoint's path under `/v2`): the exact path, then
/// mutations; the next index takes the call's text, the ones after it up to
/// [`REST_PATH_CHOICES`] the exact path.
pub const REST_PATHS: &[&str] = &[
    "/v2{}",
    "/v2{}?tenantId=tenant-a",
    "/v2{}/",
    "/v2{};x=1",
    "/V2{}",
    "//v2{}",
    "/v2/{}",
    "/v2/.{}",
    "/v2/x/..{}",
    "/v2{}%2F",
    "/v2%2F{}",
    "/v2{}#x",
    "/v2{}\0",
    "/v2{} ",
    "/api/v2{}",
    "v2{}",
];
/// How many path choices there are (about a third of them the exact path).
pub const REST_PATH_CHOICES: u8 = 24;

/// Key variables: the path byte divided by [`REST_PATH_CHOICES`] picks one; past the end, the
/// first.
pub const REST_KEYS: &[&str] = &[
    "2251799813685249",
    "0x1F",
    "-1",
    "99999999999999999999",
    "1 ",
    "%31",
];

/// Content types after index 0 (0: JSON or multipart, after the body); `""` sends none; the
/// index past the end takes the call's text.
pub const REST_CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/json; charset=UTF-8",
    "application/vnd.camunda.api+json",
    "text/plain",
    "multipart/form-data; boundary=XyZ",
    "multipart/form-data; boundary=XyZ; charset=UTF-16",
    "application/json; charset=ISO-8859-1",
    "",
];

/// Methods after index 0 (0: the endpoint's); the index past the end takes the call's text.
pub const REST_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "post"];

/// REST body shapes.
pub const REST_BODIES: &[&str] = &[
    "empty",
    "JSON of the endpoint's members",
    "JSON with every member name escaped",
    "JSON in UTF-16LE",
    "multipart deployment",
    "multipart deployment with a part of the call's text as headers (holding tenant-b) first",
    "the call's text",
    "JSON, then the call's text",
];

/// `awaitCompletion` values (the second message's job type byte): absent first.
const AWAIT: &[Option<&str>] = &[
    None,
    Some("true"),
    Some("false"),
    Some("null"),
    Some("\"true\""),
    Some("1"),
];
/// `tenantFilter` values (the second message's first tenant byte): absent first.
const TENANT_FILTERS: &[Option<&str>] = &[
    None,
    Some("\"PROVIDED\""),
    Some("\"ASSIGNED\""),
    Some("null"),
    Some("1"),
];
/// `changeset` values (the second message's second tenant byte): absent first.
const CHANGESETS: &[Option<&str>] = &[
    None,
    Some(r#"{"retries":1}"#),
    Some(r#"{"timeout":1000}"#),
    Some(r#"{"retries":1,"timeout":1000}"#),
    Some("{}"),
    Some("null"),
];

/// What the judge needs of a REST call besides the request.
#[derive(Debug, Clone)]
pub(crate) struct RestCall {
    method: String,
    content_type: Option<String>,
}

fn json_string(s: &str) -> String {
    Value::String(s.into()).to_string()
}

/// A REST call: `rpc` picks the endpoint in [`REST_TWINS`]; `path` its spelling
/// ([`REST_PATHS`], modulo [`REST_PATH_CHOICES`]) and key ([`REST_KEYS`], the quotient);
/// `body_rpc` the method ([`REST_METHODS`]); `body` the body ([`REST_BODIES`]); `encoding` the
/// content type ([`REST_CONTENT_TYPES`]); the first message the tenants and job type; the
/// second message's bytes `awaitCompletion`, `tenantFilter` and `changeset`. `partial`,
/// `raw_headers` bit 0 and the token, form and host bytes as for gRPC.
pub(crate) fn build_rest(
    call: &Call,
    text: &str,
    authorization: Option<String>,
    token: Option<usize>,
    host: String,
) -> Built {
    let twin = &REST_TWINS[usize::from(call.rpc) % REST_TWINS.len()];
    let key = REST_KEYS
        .get(usize::from(call.path / REST_PATH_CHOICES))
        .unwrap_or(&REST_KEYS[0]);
    let route = twin.path.replace("{key}", key);
    let path = match usize::from(call.path % REST_PATH_CHOICES) {
        i if i < REST_PATHS.len() => REST_PATHS[i].replace("{}", &route),
        i if i == REST_PATHS.len() => text.to_string(),
        _ => REST_PATHS[0].replace("{}", &route),
    };
    let method = match usize::from(call.body_rpc) {
        0 => twin.method,
        i => pick(
            REST_METHODS,
            ((i - 1) % (REST_METHODS.len() + 1)) as u8,
            text,
        ),
    }
    .to_string();

    let field =
        |table: &'static [&'static str], i: u8| pick(table, i % (table.len() as u8 + 1), text);
    let tenants: Vec<&str> = (0..call.first.tenants % 3)
        .map(|i| field(TENANTS, call.first.tenant[usize::from(i)]))
        .collect();
    let mut members: Vec<(&str, String)> = Vec::new();
    match twin.tenant {
        Some(TenantMember::List) if !tenants.is_empty() => {
            let list: Vec<String> = tenants.iter().map(|t| json_string(t)).collect();
            members.push(("tenantIds", format!("[{}]", list.join(","))));
        }
        // Two tenants: the member twice (Jackson keeps the last).
        Some(TenantMember::Text) => {
            for t in &tenants {
                members.push(("tenantId", json_string(t)));
            }
        }
        _ => {}
    }
    if twin.job_type {
        members.push(("type", json_string(field(JOB_TYPES, call.first.job_type))));
    }
    let extra =
        |table: &[Option<&'static str>], i: u8| table.get(usize::from(i)).copied().flatten();
    for (name, value) in [
        ("awaitCompletion", extra(AWAIT, call.second.job_type)),
        ("tenantFilter", extra(TENANT_FILTERS, call.second.tenant[0])),
        ("changeset", extra(CHANGESETS, call.second.tenant[1])),
    ] {
        if let Some(v) = value {
            members.push((name, v.to_string()));
        }
    }
    members.push(("processDefinitionId", json_string("order")));
    let json = |escape: bool| {
        let items: Vec<String> = members
            .iter()
            .map(|(k, v)| {
                let k = if escape {
                    k.chars()
                        .map(|c| format!("\\u{:04x}", u32::from(c)))
                        .collect()
                } else {
                    k.to_string()
                };
                format!("\"{k}\":{v}")
            })
            .collect();
        format!("{{{}}}", items.join(","))
    };
    let part = |head: &str, data: &str| format!("--XyZ\r\n{head}\r\n\r\n{data}\r\n");
    let resources = part(
        "Content-Disposition: form-data; name=\"resources\"; filename=\"a.bpmn\"\r\nContent-Type: application/octet-stream",
        "<definitions/>",
    );
    let tenant_parts: String = tenants
        .iter()
        .map(|t| part("Content-Disposition: form-data; name=\"tenantId\"", t))
        .collect();
    let shape = usize::from(call.body) % REST_BODIES.len();
    let (raw_body, multipart) = match shape {
        0 => (Vec::new(), false),
        1 => (json(false).into_bytes(), false),
        2 => (json(true).into_bytes(), false),
        3 => (
            json(false)
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect(),
            false,
        ),
        4 => (
            format!("{resources}{tenant_parts}--XyZ--\r\n").into_bytes(),
            true,
        ),
        // The crafted part holds `tenant-b`, before the tenant parts.
        5 => (
            format!(
                "{resources}{}{tenant_parts}--XyZ--\r\n",
                part(text, "tenant-b")
            )
            .into_bytes(),
            true,
        ),
        6 => (text.as_bytes().to_vec(), false),
        _ => ([json(false).as_bytes(), text.as_bytes()].concat(), false),
    };
    let content_type = match usize::from(call.encoding) {
        0 if multipart => Some(REST_CONTENT_TYPES[4].to_string()),
        0 => Some(REST_CONTENT_TYPES[0].to_string()),
        i => match pick(
            REST_CONTENT_TYPES,
            ((i - 1) % (REST_CONTENT_TYPES.len() + 1)) as u8,
            text,
        ) {
            "" => None,
            ct => Some(ct.to_string()),
        },
    };
    let partial = usize::from(call.partial)
        .checked_sub(1)
        .and_then(|i| PARTIALS.get(i))
        .map(|p| p.to_string());
    let mut headers = Vec::new();
    for (name, value) in [
        ("content-type", &content_type),
        ("authorization", &authorization),
        ("x-envoy-auth-partial-body", &partial),
    ] {
        if let Some(v) = value {
            headers.push((name, v.clone()));
        }
    }
    let request = check_request(&method, &host, &path, headers, raw_body, call.raw_headers);
    Built {
        request,
        host,
        path,
        authorization,
        token,
        partial,
        rest: Some(RestCall {
            method,
            content_type,
        }),
    }
}

/// The endpoint of [`REST_TWINS`] a method and path reach, read plainly: the path without its
/// query is `/v2` and the endpoint's segments, a key variable 1 to 19 decimal digits within
/// an `i64`; `HEAD` is `GET`.
pub fn rest_twin_of(method: &str, path: &str) -> Option<&'static RestTwin> {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let rest = path.strip_prefix("/v2/")?;
    let method = if method == "HEAD" { "GET" } else { method };
    let segments: Vec<&str> = rest.split('/').collect();
    REST_TWINS.iter().find(|t| {
        let template: Vec<&str> = t.path[1..].split('/').collect();
        t.method == method
            && template.len() == segments.len()
            && template.iter().zip(&segments).all(|(t, s)| match *t {
                "{key}" => {
                    !s.is_empty()
                        && s.bytes().all(|b| b.is_ascii_digit())
                        && s.parse::<i64>().is_ok()
                }
                lit => lit == *s,
            })
    })
}

/// What the gateway reads from a REST body.
enum Read {
    /// The request fails before the controller runs (a content type it does not take).
    Fails,
    /// The JSON body.
    Json(Value),
    /// The model cannot tell: no value may be taken for granted.
    Unknown,
}

/// A JSON body as Spring reads it: `application/json` or `application/*+json`, UTF-8 (or
/// UTF-16LE, as the target writes it, detected as Jackson does from `{` and a zero byte).
fn read_json(content_type: Option<&str>, raw: &[u8]) -> Read {
    let ct = content_type.unwrap_or("");
    let mut params = ct.split(';');
    let media = params.next().unwrap_or("").trim().to_ascii_lowercase();
    let json = media == "application/json"
        || media
            .strip_prefix("application/")
            .is_some_and(|s| s.ends_with("+json"));
    if !json {
        return Read::Fails;
    }
    let charset_utf8 = params.all(|p| match p.split_once('=') {
        Some((k, v)) if k.trim().eq_ignore_ascii_case("charset") => {
            v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        }
        _ => true,
    });
    if !charset_utf8 && !raw.is_ascii() {
        return Read::Unknown;
    }
    let text = if raw.len() >= 2 && raw[0] != 0 && raw[1] == 0 {
        let units: Vec<u16> = raw
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)]))
            .collect();
        String::from_utf16(&units).ok()
    } else {
        std::str::from_utf8(raw.strip_prefix(b"\xef\xbb\xbf").unwrap_or(raw))
            .ok()
            .map(str::to_string)
    };
    match text.and_then(|t| serde_json::from_str::<Value>(&t).ok()) {
        Some(v) if v.is_object() => Read::Json(v),
        Some(_) => Read::Fails,
        None => Read::Unknown,
    }
}

/// An allowed REST call: the method and path must reach an endpoint of [`REST_TWINS`] plainly,
/// its rpcs (both, unless the body picks one) must be granted, and a condition must hold for
/// what the gateway reads from the body.
pub(crate) fn judge_rest(b: &Built, grant: Grant) -> Result<(), String> {
    let rest = b.rest.as_ref().expect("a REST call");
    let twin = rest_twin_of(&rest.method, &b.path)
        .ok_or("allowed a REST request that is not plainly one of the endpoints")?;
    if twin.rpcs.is_empty() {
        return Err(format!(
            "{grant:?} does not grant the REST-only {}",
            twin.path
        ));
    }
    let raw = b
        .request
        .attributes
        .as_ref()
        .and_then(|a| a.request.as_ref())
        .and_then(|r| r.http.as_ref())
        .map_or(&[][..], |h| &h.raw_body);
    let ct = rest.content_type.as_deref();
    let read = match twin.tenant {
        Some(TenantMember::Part) => Read::Unknown,
        _ => read_json(ct, raw),
    };
    // The rpc the body picks, where it picks one; else every rpc of the endpoint. A body the
    // gateway refuses to bind (not JSON to Spring) runs neither.
    if twin.rpcs.len() == 2 && matches!(read, Read::Fails) {
        return Ok(());
    }
    let mut rpcs: Vec<&str> = twin.rpcs.to_vec();
    if let (Read::Json(v), [create, with_result]) = (&read, twin.rpcs)
        && *create == "CreateProcessInstance"
    {
        match v.get("awaitCompletion") {
            None | Some(Value::Null | Value::Bool(false)) => rpcs = vec![create],
            Some(Value::Bool(true)) => rpcs = vec![with_result],
            _ => {}
        }
    }
    for rpc in rpcs {
        let need = match (grant, twin.tenant) {
            (Grant::Tenant, Some(_)) => Need::TenantHeld,
            _ => dev_policy_needs(grant, rpc),
        };
        match need {
            Need::Never => return Err(format!("{grant:?} does not grant {rpc} ({})", twin.path)),
            Need::Always => {}
            need => rest_condition(b, twin, rpc, need, &read, ct, raw)?,
        }
    }
    Ok(())
}

fn rest_condition(
    b: &Built,
    twin: &RestTwin,
    rpc: &str,
    need: Need,
    read: &Read,
    ct: Option<&str>,
    raw: &[u8],
) -> Result<(), String> {
    if b.partial
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case("true"))
    {
        return Err(format!("{rpc}: allowed on a condition with a partial body"));
    }
    if twin.tenant == Some(TenantMember::Part) {
        return match gateway_tenant(raw, ct.unwrap_or("")) {
            Bound::Fails => Ok(()),
            Bound::Tenant(Some(t))
                if need == Need::TenantHeld && held(std::slice::from_ref(&t)) =>
            {
                Ok(())
            }
            other => Err(format!("{rpc}: the gateway binds {other:?}")),
        };
    }
    let v = match read {
        Read::Fails => return Ok(()),
        Read::Json(v) => v,
        Read::Unknown => return Err(format!("{rpc}: allowed a body the model cannot read")),
    };
    let text = |name: &str| v.get(name).and_then(Value::as_str).map(str::to_string);
    let ok = match (need, twin.tenant) {
        (Need::TenantHeld, Some(TenantMember::Text)) => {
            text("tenantId").is_some_and(|t| held(&[t]))
        }
        (Need::TenantHeld, Some(TenantMember::List)) => {
            let filter_ok = match v.get("tenantFilter") {
                None | Some(Value::Null) => true,
                Some(f) => f.as_str() == Some("PROVIDED"),
            };
            let list: Option<Vec<String>> = v
                .get("tenantIds")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().map(|t| t.as_str().map(str::to_string)).collect());
            filter_ok && list.is_some_and(|l| held(&l))
        }
        (Need::JobTypePayment, _) if twin.job_type => {
            text("type").is_some_and(|t| t.starts_with("payment"))
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{rpc}: the gateway reads {v}"))
    }
}
