//! The adapter's view of a `CheckRequest`: the few fields a decision reads, borrowed.

use envoy_types::ext_authz::v3::pb::CheckRequest;

/// Borrowed fields of Envoy's `AttributeContext.Request.HttpRequest`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestView<'a> {
    /// `:authority`.
    pub host: &'a str,
    /// `:path` (`/gateway_protocol.Gateway/Topology`).
    pub path: &'a str,
    /// The `authorization` header, if any.
    pub authorization: Option<&'a str>,
    /// The request body as Envoy forwarded it (`with_request_body` + `pack_as_bytes`).
    pub raw_body: &'a [u8],
}

impl<'a> RequestView<'a> {
    /// Borrows from a Check request; absent parts read as empty.
    pub fn new(request: &'a CheckRequest) -> RequestView<'a> {
        let Some(http) = request
            .attributes
            .as_ref()
            .and_then(|a| a.request.as_ref())
            .and_then(|r| r.http.as_ref())
        else {
            return RequestView::default();
        };
        // Envoy lower-cases header names in this map.
        RequestView {
            host: &http.host,
            path: &http.path,
            authorization: http.headers.get("authorization").map(String::as_str),
            raw_body: &http.raw_body,
        }
    }
}
