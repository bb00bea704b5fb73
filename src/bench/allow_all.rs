//! The allow-all ext_authz server: the floor of any ext_authz hop.
//!
//! It runs the same stack as ours (tonic, the same `CheckRequest` decoding) and
//! answers every Check with OK and nothing else, so the difference between it and
//! zeebe-authz at the same load is exactly what the authorization decision costs.
//!
//! To price what an answer carries on Envoy's side, it can also answer with zeebe-authz's
//! identity headers (`--identity-headers`, the same names and dev-sized values, each
//! overwriting) and its dynamic-metadata entries (`--metadata N`), decided for free. With
//! all three headers and all five entries Envoy does the work it does behind zeebe-authz
//! sending everything; with fewer headers zeebe-authz would also remove the names it does not
//! send (`headers_to_remove`), which this server does not.

use std::future::Future;

use envoy_types::ext_authz::v3::pb::{
    Authorization, AuthorizationServer, CheckRequest, CheckResponse, HttpResponse, OkHttpResponse,
};
use envoy_types::pb::envoy::config::core::v3::{
    HeaderValue, HeaderValueOption, header_value_option::HeaderAppendAction,
};
use envoy_types::pb::google::protobuf::{Struct, Value, value::Kind};
use envoy_types::pb::google::rpc::Status;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

/// What each allow carries besides `OK`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllowContent {
    /// How many of zeebe-authz's identity headers (subject, client id, realm, in that order)
    /// each allow overwrites; at most 3.
    pub identity_headers: usize,
    /// How many of the five string entries of zeebe-authz's dynamic metadata each allow
    /// carries (decision id, reason, rpc, realm, subject, in that order); at most 5.
    pub metadata: usize,
    /// Write through zeebe-authz's Check connection writer (h2's writes held and sent once
    /// for the answers ready together), so that a comparison isolates the decision's cost.
    pub coalesced_writes: bool,
}

/// The identity headers as an allow of the dev write token sets them: zeebe-authz's default
/// names and the dev realm's values.
const IDENTITY: [(&str, &str); 3] = [
    ("x-zeebe-authz-subject", "service-account-dev-writer"),
    ("x-zeebe-authz-client-id", "dev-writer"),
    ("x-zeebe-authz-realm", "dev"),
];

/// The metadata entries of a zeebe-authz allow, with values of the same lengths.
const METADATA: [(&str, &str); 5] = [
    // Behind Envoy the decision id is its `x-request-id`, a UUID.
    ("decision_id", "0d0b5f9e-8d3a-4a8e-9d6c-1f2e3d4c5b6a"),
    ("reason", "allowed"),
    ("rpc", "Topology"),
    ("realm", "dev"),
    ("subject", "service-account-dev-writer"),
];

impl AllowContent {
    /// The one answer every Check gets.
    fn answer(self) -> CheckResponse {
        let headers = IDENTITY
            .iter()
            .take(self.identity_headers)
            .map(|(key, value)| HeaderValueOption {
                header: Some(HeaderValue {
                    key: (*key).into(),
                    value: (*value).into(),
                    ..Default::default()
                }),
                append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
                ..Default::default()
            })
            .collect::<Vec<_>>();
        let http_response = (!headers.is_empty()).then(|| {
            HttpResponse::OkResponse(OkHttpResponse {
                headers,
                ..Default::default()
            })
        });
        let dynamic_metadata = (self.metadata > 0).then(|| Struct {
            fields: METADATA
                .iter()
                .take(self.metadata)
                .map(|(key, value)| {
                    let value = Value {
                        kind: Some(Kind::StringValue((*value).into())),
                    };
                    ((*key).into(), value)
                })
                .collect(),
        });
        CheckResponse {
            status: Some(Status {
                code: 0,
                ..Default::default()
            }),
            http_response,
            dynamic_metadata,
        }
    }
}

struct AllowAll {
    answer: CheckResponse,
}

#[tonic::async_trait]
impl Authorization for AllowAll {
    async fn check(
        &self,
        _request: tonic::Request<CheckRequest>,
    ) -> Result<tonic::Response<CheckResponse>, tonic::Status> {
        Ok(tonic::Response::new(self.answer.clone()))
    }
}

/// Serves allow-all Checks on `listener` until `shutdown` resolves, each answered with OK and
/// `extras`.
pub(crate) async fn serve(
    listener: TcpListener,
    extras: AllowContent,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let answer = extras.answer();
    let service = AuthorizationServer::new(AllowAll { answer });
    let server = tonic::transport::Server::builder().add_service(service);
    if extras.coalesced_writes {
        // The Check server's own connection setup (see `zeebe_authz_server::coalesce`).
        let incoming = zeebe_authz_server::coalesce::coalesced_incoming(listener);
        server
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await?;
    } else {
        // `Server::tcp_nodelay` does not apply to an incoming stream passed in: set it on the
        // accepted sockets, or Nagle holds back the small writes of every response.
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        server
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_answer_is_an_empty_ok() {
        let answer = AllowContent::default().answer();
        assert_eq!(answer.status.unwrap().code, 0);
        assert!(answer.http_response.is_none());
        assert!(answer.dynamic_metadata.is_none());
    }

    #[test]
    fn extras_carry_what_a_zeebe_authz_allow_carries() {
        let answer = AllowContent {
            identity_headers: 3,
            metadata: 5,
            coalesced_writes: false,
        }
        .answer();
        let Some(HttpResponse::OkResponse(ok)) = answer.http_response else {
            panic!("an ok_response");
        };
        let names: Vec<_> = ok
            .headers
            .iter()
            .map(|h| h.header.as_ref().unwrap().key.as_str())
            .collect();
        let ours = zeebe_authz_core::decision::IdentityHeaders::default();
        assert_eq!(names, [&*ours.subject, &*ours.client_id, &*ours.realm]);
        assert!(
            ok.headers
                .iter()
                .all(|h| h.append_action == HeaderAppendAction::OverwriteIfExistsOrAdd as i32)
        );
        let fields = answer.dynamic_metadata.unwrap().fields;
        let mut keys: Vec<_> = fields.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["decision_id", "realm", "reason", "rpc", "subject"]);
        let one = AllowContent {
            identity_headers: 1,
            metadata: 1,
            coalesced_writes: false,
        }
        .answer();
        let Some(HttpResponse::OkResponse(ok)) = one.http_response else {
            panic!("an ok_response");
        };
        assert_eq!(ok.headers.len(), 1);
        let fields = one.dynamic_metadata.unwrap().fields;
        assert_eq!(fields.keys().collect::<Vec<_>>(), ["decision_id"]);
    }
}
