//! The request as a decision sees it: the few fields it reads, borrowed. Pure: the adapter
//! that reads them out of Envoy's `CheckRequest` is the server's `envoy::read`.

use crate::body::RequestBody;

/// Borrowed fields of the HTTP request being authorized (Envoy's
/// `AttributeContext.Request.HttpRequest`).
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestView<'a> {
    /// `:authority`.
    pub host: &'a str,
    /// `:method` (`POST`; the REST door routes on it).
    pub method: &'a str,
    /// `:path` (`/gateway_protocol.Gateway/Topology`, `/v2/jobs/activation`), with any query.
    pub path: &'a str,
    /// The `authorization` header, if any.
    pub authorization: Option<&'a str>,
    /// The `x-request-id` header (Envoy sets one on every request), if any.
    pub request_id: Option<&'a str>,
    /// The request body as Envoy forwarded it (`with_request_body` + `pack_as_bytes`), with
    /// its `grpc-encoding`, its `content-type` and whether Envoy cut it short.
    pub body: RequestBody<'a>,
}
