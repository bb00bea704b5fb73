//! The adapter's view of a `CheckRequest`: the few fields a decision reads, borrowed.

use envoy_types::ext_authz::v3::pb::CheckRequest;

use crate::policy::RequestBody;

/// The header Envoy adds when it cut the body at `max_request_bytes`.
pub const PARTIAL_BODY_HEADER: &str = "x-envoy-auth-partial-body";

/// Borrowed fields of Envoy's `AttributeContext.Request.HttpRequest`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestView<'a> {
    /// `:authority`.
    pub host: &'a str,
    /// `:path` (`/gateway_protocol.Gateway/Topology`).
    pub path: &'a str,
    /// The `authorization` header, if any.
    pub authorization: Option<&'a str>,
    /// The request body as Envoy forwarded it (`with_request_body` + `pack_as_bytes`), with
    /// its `grpc-encoding` and whether Envoy cut it short.
    pub body: RequestBody<'a>,
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
            body: RequestBody {
                raw: &http.raw_body,
                encoding: http.headers.get("grpc-encoding").map(String::as_str),
                partial: http
                    .headers
                    .get(PARTIAL_BODY_HEADER)
                    .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            },
        }
    }
}
