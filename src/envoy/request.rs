//! Reading Envoy's `CheckRequest`: the borrowed `RequestView` a decision needs.

use envoy_types::ext_authz::v3::pb::CheckRequest;

use crate::body::RequestBody;
use crate::request::RequestView;

/// The header Envoy adds when it cut the body at `max_request_bytes`.
pub(crate) const PARTIAL_BODY_HEADER: &str = "x-envoy-auth-partial-body";

/// Borrows the fields a decision reads from a Check request; absent parts read as empty.
pub(crate) fn view(request: &CheckRequest) -> RequestView<'_> {
    let Some(http) = request
        .attributes
        .as_ref()
        .and_then(|a| a.request.as_ref())
        .and_then(|r| r.http.as_ref())
    else {
        return RequestView::default();
    };
    // Envoy lower-cases header names. It sends them in `headers`, or in `header_map` when
    // the filter sets `encode_raw_headers` (values then in `raw_value`).
    let header = |name: &str| -> Option<&str> {
        if let Some(v) = http.headers.get(name) {
            return Some(v.as_str());
        }
        let h = http
            .header_map
            .as_ref()?
            .headers
            .iter()
            .find(|h| h.key == name)?;
        if h.raw_value.is_empty() {
            Some(h.value.as_str())
        } else {
            std::str::from_utf8(&h.raw_value).ok()
        }
    };
    RequestView {
        host: &http.host,
        path: &http.path,
        authorization: header("authorization"),
        // Not `http.id`: that is Envoy's internal stream number.
        request_id: header("x-request-id"),
        body: RequestBody {
            raw: &http.raw_body,
            encoding: header("grpc-encoding"),
            partial: header(PARTIAL_BODY_HEADER).is_some_and(|v| v.eq_ignore_ascii_case("true")),
        },
    }
}

#[cfg(test)]
mod tests {
    use envoy_types::pb::envoy::config::core::v3::{HeaderMap, HeaderValue};
    use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
    use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};

    use super::*;

    fn request(http: HttpRequest) -> CheckRequest {
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

    #[test]
    fn reads_headers_from_the_map_or_the_raw_header_map() {
        let mut http = HttpRequest {
            host: "h".into(),
            path: "/p".into(),
            ..Default::default()
        };
        http.headers
            .insert("authorization".into(), "Bearer a.b.c".into());
        let r = request(http);
        assert_eq!(view(&r).authorization, Some("Bearer a.b.c"));

        let raw = |k: &str, v: &str| HeaderValue {
            key: k.into(),
            value: String::new(),
            raw_value: v.as_bytes().to_vec(),
        };
        let http = HttpRequest {
            header_map: Some(HeaderMap {
                headers: vec![
                    raw("authorization", "Bearer x.y.z"),
                    raw(PARTIAL_BODY_HEADER, "true"),
                ],
            }),
            ..Default::default()
        };
        let r = request(http);
        let v = view(&r);
        assert_eq!(v.authorization, Some("Bearer x.y.z"));
        assert!(v.body.partial);
        assert_eq!(view(&CheckRequest::default()).authorization, None);
    }
}
