//! Reading Envoy's `CheckRequest`: the borrowed `RequestView` a decision needs.

use envoy_types::ext_authz::v3::pb::CheckRequest;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::HttpRequest;

use zeebe_authz_core::body::RequestBody;
use zeebe_authz_core::request::RequestView;

/// The header Envoy adds when it cut the body at `max_request_bytes`.
pub(crate) const PARTIAL_BODY_HEADER: &str = "x-envoy-auth-partial-body";

/// The headers a decision reads, in the order `view` unpacks them.
const WANTED: [&str; 5] = [
    "authorization",
    "x-request-id",
    "grpc-encoding",
    PARTIAL_BODY_HEADER,
    "content-type",
];

/// The HTTP request a Check is about, if Envoy sent one.
pub(crate) fn http(request: &CheckRequest) -> Option<&HttpRequest> {
    request
        .attributes
        .as_ref()
        .and_then(|a| a.request.as_ref())
        .and_then(|r| r.http.as_ref())
}

/// The values of the headers `names` (lower case), in their order. Envoy lower-cases header
/// names and sends them in `headers`, or in `header_map` when the filter sets
/// `encode_raw_headers` (values then in `raw_value`): there the first entry of a name counts,
/// even when its raw value is not UTF-8 (it then reads as absent). One pass over the dozen
/// headers of a call finds them all, cheaper than a hashed lookup per name.
pub(crate) fn headers<'a, const N: usize>(
    http: &'a HttpRequest,
    names: &[&str; N],
) -> [Option<&'a str>; N] {
    let mut found: [Option<&str>; N] = [None; N];
    let mut decided = [false; N];
    for (name, value) in &http.headers {
        if let Some(i) = names.iter().position(|w| *w == name) {
            found[i] = Some(value.as_str());
            decided[i] = true;
        }
    }
    if let Some(map) = &http.header_map
        && decided.iter().any(|d| !d)
    {
        for h in &map.headers {
            if let Some(i) = names.iter().position(|w| *w == h.key)
                && !std::mem::replace(&mut decided[i], true)
            {
                found[i] = if h.raw_value.is_empty() {
                    Some(h.value.as_str())
                } else {
                    std::str::from_utf8(&h.raw_value).ok()
                };
            }
        }
    }
    found
}

/// Borrows the fields a decision reads from a Check request; absent parts read as empty.
pub(crate) fn view(request: &CheckRequest) -> RequestView<'_> {
    let Some(http) = http(request) else {
        return RequestView::default();
    };
    let [authorization, request_id, encoding, partial, content_type] = headers(http, &WANTED);
    RequestView {
        host: &http.host,
        method: &http.method,
        path: &http.path,
        authorization,
        // Not `http.id`: that is Envoy's internal stream number.
        request_id,
        body: RequestBody {
            raw: &http.raw_body,
            encoding,
            partial: partial.is_some_and(|v| v.eq_ignore_ascii_case("true")),
            content_type,
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

    #[test]
    fn the_first_raw_header_of_a_name_counts_and_headers_win_over_the_raw_map() {
        let raw = |k: &str, v: &[u8]| HeaderValue {
            key: k.into(),
            value: String::new(),
            raw_value: v.to_vec(),
        };
        let mut http = HttpRequest {
            header_map: Some(HeaderMap {
                headers: vec![
                    raw("authorization", b"\xff not utf-8"),
                    raw("authorization", b"Bearer second"),
                    raw("x-request-id", b"from-raw"),
                    raw("grpc-encoding", b"gzip"),
                ],
            }),
            ..Default::default()
        };
        http.headers
            .insert("x-request-id".into(), "from-map".into());
        let r = request(http);
        let v = view(&r);
        // As Envoy's first value: unreadable, so no token (never the later one).
        assert_eq!(v.authorization, None);
        assert_eq!(v.request_id, Some("from-map"));
        assert_eq!(v.body.encoding, Some("gzip"));
        assert!(!v.body.partial);
    }
}
