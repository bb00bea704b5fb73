//! The allow-all ext_authz server: the floor of any ext_authz hop.
//!
//! It runs the same stack as ours (tonic, the same `CheckRequest` decoding) and
//! answers every Check with OK and nothing else, so the difference between it and
//! zeebe-authz at the same load is exactly what the authorization decision costs.

use std::future::Future;

use envoy_types::ext_authz::v3::pb::{
    Authorization, AuthorizationServer, CheckRequest, CheckResponse,
};
use envoy_types::pb::google::rpc::Status;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

struct AllowAll;

#[tonic::async_trait]
impl Authorization for AllowAll {
    async fn check(
        &self,
        _request: tonic::Request<CheckRequest>,
    ) -> Result<tonic::Response<CheckResponse>, tonic::Status> {
        Ok(tonic::Response::new(CheckResponse {
            status: Some(Status {
                code: 0,
                ..Default::default()
            }),
            ..Default::default()
        }))
    }
}

/// Serves allow-all Checks on `listener` until `shutdown` resolves.
pub(crate) async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // `Server::tcp_nodelay` does not apply to an incoming stream passed in: set it on the
    // accepted sockets, or Nagle holds back the small writes of every response.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(AuthorizationServer::new(AllowAll))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}
