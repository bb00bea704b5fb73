//! What the load consists of: the token mix, the rpc mix, and the prepared requests built
//! from them once, before the run.
//!
//! Token mixes exercise the authorizer's paths: one hot token (the verified-token cache), N
//! distinct valid tokens (each verified once: the crypto-bound cold path), tokens with a bad
//! signature (verified, refused, never cached), and tokens naming a `kid` the realm does not
//! have (the single-flight JWKS refetch). Rpc mixes choose body-free or body-aware calls;
//! body-aware ones carry a real gRPC frame of a Zeebe request built with the prost types of
//! `proto/`, as Envoy forwards it in `raw_body`.

use std::str::FromStr;
use std::sync::Arc;

use envoy_types::ext_authz::v3::pb::CheckRequest;
use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use prost::Message as _;
use prost::bytes::Bytes;

use crate::dev::TENANTS_CLAIM;
use zeebe_authz_core::catalog::GATEWAY_PATH_PREFIX;
use zeebe_authz_core::proto;
use zeebe_authz_core::signing::{SigningKey, access_token_claims};

/// The client id of minted tokens.
pub(crate) const BENCH_CLIENT: &str = "bench-client";
/// How long minted tokens are valid.
pub(crate) const TOKEN_TTL_SECS: u64 = 3600;

/// Which tokens the requests carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenMix {
    /// One valid token for every request: after the first Check, the cache answers.
    Hot,
    /// N distinct valid tokens, used in turn: each is verified once (the cold path).
    Distinct(usize),
    /// A valid token with a corrupted signature: verified and refused every time.
    Invalid,
    /// A token of the realm's issuer signed with a key whose `kid` the JWKS lacks.
    UnknownKid,
}

impl FromStr for TokenMix {
    type Err = String;

    fn from_str(s: &str) -> Result<TokenMix, String> {
        Ok(match s {
            "hot" => TokenMix::Hot,
            "invalid" => TokenMix::Invalid,
            "unknown-kid" => TokenMix::UnknownKid,
            _ => match s.strip_prefix("distinct:").map(str::parse::<usize>) {
                Some(Ok(n)) if n > 0 => TokenMix::Distinct(n),
                _ => {
                    return Err(format!(
                        "'{s}' is not a token mix: hot, distinct:N (N > 0), invalid or unknown-kid"
                    ));
                }
            },
        })
    }
}

impl std::fmt::Display for TokenMix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenMix::Hot => f.write_str("hot"),
            TokenMix::Distinct(n) => write!(f, "distinct:{n}"),
            TokenMix::Invalid => f.write_str("invalid"),
            TokenMix::UnknownKid => f.write_str("unknown-kid"),
        }
    }
}

/// Which rpcs the requests call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RpcMix {
    /// `Topology` with an empty body (body-free).
    Topology,
    /// `CreateProcessInstance` with a process id and tenant (body-aware).
    CreateProcessInstance,
    /// `ActivateJobs` with a job type and tenant (body-aware).
    ActivateJobs,
    /// `CompleteJob` with `--variables-bytes` of variables (no condition reads it).
    CompleteJob,
    /// CreateProcessInstance, ActivateJobs, CompleteJob, Topology in turn.
    Mixed,
}

impl std::fmt::Display for RpcMix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RpcMix::Topology => "topology",
            RpcMix::CreateProcessInstance => "create-process-instance",
            RpcMix::ActivateJobs => "activate-jobs",
            RpcMix::CompleteJob => "complete-job",
            RpcMix::Mixed => "mixed",
        })
    }
}

/// The request fields body-aware rpcs carry.
#[derive(Debug, Clone)]
pub struct BodyFields {
    /// `tenantId` / `tenantIds`.
    pub tenant: String,
    /// `bpmnProcessId` of CreateProcessInstance.
    pub bpmn_process_id: String,
    /// `type` of ActivateJobs.
    pub job_type: String,
    /// Size of CompleteJob's `variables` (0: a few bytes).
    pub variables_bytes: usize,
}

/// CompleteJob's `variables`: `{"paid":true}`, or a JSON object of one string padded to
/// `bytes` bytes.
fn job_variables(bytes: usize) -> String {
    const SMALL: &str = r#"{"paid":true}"#;
    const FRAME: usize = r#"{"pad":""}"#.len();
    if bytes <= FRAME.max(SMALL.len()) {
        return SMALL.into();
    }
    format!(r#"{{"pad":"{}"}}"#, "x".repeat(bytes - FRAME))
}

/// One rpc call: its gateway path and its request message (protobuf, not framed).
#[derive(Debug, Clone)]
pub struct RpcCall {
    /// `/gateway_protocol.Gateway/<Rpc>`.
    pub(crate) path: String,
    /// The encoded request message.
    pub message: Bytes,
}

impl RpcMix {
    /// The calls of one cycle of the mix.
    pub fn calls(self, fields: &BodyFields) -> Vec<RpcCall> {
        let call = |rpc: &str, message: Vec<u8>| RpcCall {
            path: format!("{GATEWAY_PATH_PREFIX}{rpc}"),
            message: Bytes::from(message),
        };
        let topology = || call("Topology", proto::TopologyRequest {}.encode_to_vec());
        let create = || {
            call(
                "CreateProcessInstance",
                proto::CreateProcessInstanceRequest {
                    bpmn_process_id: fields.bpmn_process_id.clone(),
                    version: -1,
                    variables: r#"{"orderId":"A-1042","amount":129.5}"#.into(),
                    tenant_id: fields.tenant.clone(),
                    ..Default::default()
                }
                .encode_to_vec(),
            )
        };
        let activate = || {
            call(
                "ActivateJobs",
                proto::ActivateJobsRequest {
                    r#type: fields.job_type.clone(),
                    worker: "bench-worker".into(),
                    timeout: 30_000,
                    max_jobs_to_activate: 32,
                    request_timeout: 10_000,
                    tenant_ids: vec![fields.tenant.clone()],
                    ..Default::default()
                }
                .encode_to_vec(),
            )
        };
        let complete = || {
            call(
                "CompleteJob",
                proto::CompleteJobRequest {
                    job_key: 2_251_799_813_685_249,
                    variables: job_variables(fields.variables_bytes),
                    ..Default::default()
                }
                .encode_to_vec(),
            )
        };
        match self {
            RpcMix::Topology => vec![topology()],
            RpcMix::CreateProcessInstance => vec![create()],
            RpcMix::ActivateJobs => vec![activate()],
            RpcMix::CompleteJob => vec![complete()],
            RpcMix::Mixed => vec![create(), activate(), complete(), topology()],
        }
    }
}

/// One prepared request: a call and the `authorization` header value to send with it.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The rpc and its message.
    pub(crate) call: RpcCall,
    /// `Bearer <token>`.
    pub(crate) authorization: Arc<str>,
}

impl Prepared {
    /// The Check Envoy would send for this call to `host` (`with_request_body`,
    /// `pack_as_bytes`: the gRPC frame in `raw_body`).
    pub fn to_check_request(&self, host: &str) -> CheckRequest {
        let headers = [
            ("authorization", &*self.authorization),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            (":authority", host),
            (":method", "POST"),
            (":path", &self.call.path),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let body = zeebe_authz_core::body::frame(&self.call.message);
        CheckRequest {
            attributes: Some(AttributeContext {
                request: Some(Request {
                    http: Some(HttpRequest {
                        id: "bench".into(),
                        method: "POST".into(),
                        headers,
                        path: self.call.path.clone(),
                        host: host.into(),
                        scheme: "http".into(),
                        protocol: "HTTP/2".into(),
                        size: i64::try_from(body.len()).unwrap_or(i64::MAX),
                        raw_body: body,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }
    }
}

/// Who mints the tokens: a key and the issuer it signs for.
pub struct Minter<'a> {
    /// The realm's signing key (its JWKS is what the authorizer trusts).
    pub key: &'a SigningKey,
    /// The realm's issuer URL.
    pub issuer: &'a str,
    /// The audience.
    pub audience: &'a str,
    /// The Identity permissions the tokens carry.
    pub permissions: &'a [String],
    /// The tenants the tokens carry (claim `tenants`; none: no claim).
    pub tenants: &'a [String],
}

impl Minter<'_> {
    /// One valid token.
    pub fn mint(&self) -> anyhow::Result<String> {
        self.mint_with(self.key)
    }

    fn mint_with(&self, key: &SigningKey) -> anyhow::Result<String> {
        let permissions: Vec<&str> = self.permissions.iter().map(String::as_str).collect();
        let mut claims = access_token_claims(
            self.issuer,
            self.audience,
            BENCH_CLIENT,
            &permissions,
            TOKEN_TTL_SECS,
        );
        if !self.tenants.is_empty() {
            claims[TENANTS_CLAIM] = serde_json::json!(self.tenants);
        }
        Ok(key.sign(&claims)?)
    }

    /// `n` distinct valid tokens, minted on every core (RSA signing is slow: this happens
    /// before the run and is not measured).
    pub(crate) fn mint_distinct(&self, n: usize) -> anyhow::Result<Vec<String>> {
        let threads = std::thread::available_parallelism().map_or(1, |p| p.get());
        let per_thread = n.div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let count = per_thread.min(n.saturating_sub(t * per_thread));
                    s.spawn(move || {
                        (0..count)
                            .map(|_| self.mint())
                            .collect::<Result<Vec<_>, _>>()
                    })
                })
                .collect();
            let mut tokens = Vec::with_capacity(n);
            for h in handles {
                tokens.extend(h.join().expect("minting threads do not panic")?);
            }
            Ok(tokens)
        })
    }

    /// The tokens of a mix (for `Hot`, `Invalid` and `UnknownKid`: one token).
    pub(crate) fn tokens(&self, mix: TokenMix) -> anyhow::Result<Vec<String>> {
        Ok(match mix {
            TokenMix::Hot => vec![self.mint()?],
            TokenMix::Distinct(n) => self.mint_distinct(n)?,
            TokenMix::Invalid => vec![corrupt_signature(&self.mint()?)],
            TokenMix::UnknownKid => {
                let stranger = SigningKey::generate("bench-unknown-kid")?;
                vec![self.mint_with(&stranger)?]
            }
        })
    }
}

/// The token with the first character of its signature changed: still well-formed, but the
/// signature no longer verifies.
pub(crate) fn corrupt_signature(token: &str) -> String {
    let Some(dot) = token.rfind('.') else {
        return format!("{token}x");
    };
    let mut out = String::with_capacity(token.len());
    out.push_str(&token[..=dot]);
    let mut sig = token[dot + 1..].chars();
    match sig.next() {
        Some(c) => out.push(if c == 'A' { 'B' } else { 'A' }),
        None => out.push('A'),
    }
    out.extend(sig);
    out
}

/// The requests of a run: token `i` of `tokens` with call `i` of the cycle, as many as the
/// longer of the two (so every distinct token appears exactly once per pass).
pub fn prepare(tokens: &[String], calls: &[RpcCall]) -> Vec<Prepared> {
    let n = tokens.len().max(calls.len());
    let headers: Vec<Arc<str>> = tokens
        .iter()
        .map(|t| Arc::from(format!("Bearer {t}")))
        .collect();
    (0..n)
        .map(|i| Prepared {
            call: calls[i % calls.len()].clone(),
            authorization: headers[i % headers.len()].clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_mix_parses() {
        assert_eq!("hot".parse(), Ok(TokenMix::Hot));
        assert_eq!("distinct:500".parse(), Ok(TokenMix::Distinct(500)));
        assert_eq!("unknown-kid".parse(), Ok(TokenMix::UnknownKid));
        assert!("distinct:0".parse::<TokenMix>().is_err());
        assert!("distinct:".parse::<TokenMix>().is_err());
        assert!("cold".parse::<TokenMix>().is_err());
        assert_eq!(TokenMix::Distinct(7).to_string(), "distinct:7");
    }

    #[test]
    fn frame_is_flag_length_message() {
        assert_eq!(
            zeebe_authz_core::body::frame(&[0xAB, 0xCD]),
            vec![0, 0, 0, 0, 2, 0xAB, 0xCD]
        );
        assert_eq!(zeebe_authz_core::body::frame(&[]), vec![0; 5]);
    }

    #[test]
    fn body_aware_calls_decode_back() {
        let fields = BodyFields {
            tenant: "tenant-a".into(),
            bpmn_process_id: "order".into(),
            job_type: "payment".into(),
            variables_bytes: 0,
        };
        let calls = RpcMix::Mixed.calls(&fields);
        assert_eq!(calls.len(), 4);
        assert_eq!(
            calls[0].path,
            "/gateway_protocol.Gateway/CreateProcessInstance"
        );
        let create = proto::CreateProcessInstanceRequest::decode(calls[0].message.clone()).unwrap();
        assert_eq!(
            (&*create.bpmn_process_id, &*create.tenant_id),
            ("order", "tenant-a")
        );
        let jobs = proto::ActivateJobsRequest::decode(calls[1].message.clone()).unwrap();
        assert_eq!(jobs.r#type, "payment");
        assert_eq!(jobs.tenant_ids, vec!["tenant-a".to_string()]);
    }

    #[test]
    fn corrupted_signature_differs_only_in_the_signature() {
        let t = "aGVhZA.Ym9keQ.QUJD";
        let c = corrupt_signature(t);
        assert_ne!(c, t);
        assert!(c.starts_with("aGVhZA.Ym9keQ."));
        assert_eq!(c.len(), t.len());
    }

    #[test]
    fn complete_job_variables_are_padded_to_the_size_asked() {
        for bytes in [16 * 1024, 64 * 1024] {
            let v = job_variables(bytes);
            assert_eq!(v.len(), bytes);
            assert!(serde_json::from_str::<serde_json::Value>(&v).is_ok());
        }
        assert_eq!(job_variables(0), r#"{"paid":true}"#);
    }

    #[test]
    fn prepare_pairs_every_token_once() {
        let calls = RpcMix::Topology.calls(&BodyFields {
            tenant: String::new(),
            bpmn_process_id: String::new(),
            job_type: String::new(),
            variables_bytes: 0,
        });
        let tokens: Vec<String> = (0..3).map(|i| format!("t{i}")).collect();
        let p = prepare(&tokens, &calls);
        let auth: Vec<&str> = p.iter().map(|p| &*p.authorization).collect();
        assert_eq!(auth, ["Bearer t0", "Bearer t1", "Bearer t2"]);
        let check = p[0].to_check_request("zeebe:26500");
        let http = check.attributes.unwrap().request.unwrap().http.unwrap();
        assert_eq!(
            http.raw_body,
            vec![0; 5],
            "Topology's empty message, framed"
        );
        assert_eq!(http.headers["authorization"], "Bearer t0");
    }
}
