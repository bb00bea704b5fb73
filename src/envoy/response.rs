//! Envoy's answer: the one function that turns a `Decision` into a `CheckResponse`.
//!
//! A deny is always a `CheckResponse` (never a tonic error: Envoy treats an error as an outage
//! and, configured fail-open, would let the call through), with the HTTP status Envoy maps back
//! to the gRPC status for gRPC clients, an explicit `grpc-status` and a percent-encoded
//! `grpc-message`. An allow carries the identity headers, overwriting what a client sent.

use std::borrow::Cow;

use envoy_types::ext_authz::v3::pb::{
    CheckResponse, DeniedHttpResponse, HeaderAppendAction, HeaderValue, HeaderValueOption,
    HttpResponse, HttpStatus, OkHttpResponse,
};
use envoy_types::pb::google::rpc::Status;

use crate::decision::{Decision, IdentityHeaders};
use crate::outcome::{GrpcCode, MESSAGE_PREFIX};

/// Builds Envoy's answer. The only place a `CheckResponse` is made.
pub(crate) fn into_check_response(decision: &Decision, names: &IdentityHeaders) -> CheckResponse {
    match decision {
        Decision::Allow { principal, realm } => {
            let mut ok = OkHttpResponse::default();
            // Overwrite, so a client cannot smuggle its own identity headers to the gateway;
            // an empty value removes the header instead (Envoy drops empty values, which would
            // leave a smuggled one in place).
            for (name, value) in [
                (&names.subject, &*principal.subject),
                (&names.client_id, &*principal.client_id),
                (&names.realm, &**realm),
            ] {
                if value.is_empty() {
                    ok.headers_to_remove.push(name.to_string());
                } else {
                    // Token text may hold CR/LF or other bytes Envoy refuses in a header
                    // value (it would then fail the whole request): escape them.
                    ok.headers
                        .push(overwrite_header(name, &percent_encode_header_value(value)));
                }
            }
            CheckResponse {
                status: Some(Status {
                    code: GrpcCode::Ok as i32,
                    message: String::new(),
                    details: Vec::new(),
                }),
                http_response: Some(HttpResponse::OkResponse(ok)),
                ..Default::default()
            }
        }
        Decision::Deny(deny) => {
            let code = deny.outcome.code();
            let message = format!("{MESSAGE_PREFIX}{}", deny.message);
            let denied = DeniedHttpResponse {
                status: Some(HttpStatus {
                    code: code.http_status(),
                }),
                headers: vec![
                    overwrite_header("grpc-status", code.as_str()),
                    overwrite_header("grpc-message", &percent_encode_grpc_message(&message)),
                    overwrite_header("content-type", "application/grpc"),
                ],
                body: String::new(),
            };
            CheckResponse {
                status: Some(Status {
                    code: code as i32,
                    message,
                    details: Vec::new(),
                }),
                http_response: Some(HttpResponse::DeniedResponse(denied)),
                ..Default::default()
            }
        }
    }
}

fn overwrite_header(key: &str, value: &str) -> HeaderValueOption {
    #[allow(deprecated)]
    HeaderValueOption {
        header: Some(HeaderValue {
            key: key.to_string(),
            value: value.to_string(),
            raw_value: Vec::new(),
        }),
        append: None,
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
        keep_empty_value: false,
    }
}

/// `grpc-message` is percent-encoded (gRPC over HTTP/2 spec): bytes outside printable ASCII
/// and `%` itself are escaped.
pub(crate) fn percent_encode_grpc_message(message: &str) -> Cow<'_, str> {
    percent_encode(message, |_, b| (0x20..=0x7e).contains(&b) && b != b'%')
}

/// An identity header value from token text (`sub`, `azp`), as a valid HTTP field value
/// (RFC 9110 §5.5): the bytes `grpc-message` escapes (controls such as CR, LF, NUL and TAB,
/// DEL, non-ASCII, `%`) and a space at either end (Envoy would trim it, so ` alice` and `alice`
/// would reach the gateway as one subject) are percent-encoded. Escaping rather than dropping
/// keeps distinct subjects distinct, and the value decodes back exactly. Borrowed when clean.
pub(crate) fn percent_encode_header_value(value: &str) -> Cow<'_, str> {
    let last = value.len().wrapping_sub(1);
    percent_encode(value, |i, b| {
        (0x21..=0x7e).contains(&b) && b != b'%' || (b == b' ' && i != 0 && i != last)
    })
}

fn percent_encode(text: &str, keep: impl Fn(usize, u8) -> bool) -> Cow<'_, str> {
    if text.bytes().enumerate().all(|(i, b)| keep(i, b)) {
        return Cow::Borrowed(text);
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len() + 8);
    for (i, b) in text.bytes().enumerate() {
        if keep(i, b) {
            out.push(b as char);
        } else {
            out.extend([
                '%',
                HEX[usize::from(b >> 4)] as char,
                HEX[usize::from(b & 15)] as char,
            ]);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::outcome::{Deny, Outcome};
    use crate::token::Principal;

    #[test]
    fn header_values_from_tokens_go_out_unsanitized() {
        // Regression: `sub` with CR/LF reached Envoy verbatim, which then refused our answer.
        for (raw, sent) in [
            ("alice", "alice"),
            ("alice smith", "alice smith"),
            ("alice\r\nx-injected: 1", "alice%0D%0Ax-injected: 1"),
            ("a\0b\tc\x7f", "a%00b%09c%7F"),
            (" alice ", "%20alice%20"),
            (" ", "%20"),
            ("100%", "100%25"),
            ("J\u{f6}rg", "J%C3%B6rg"),
        ] {
            assert_eq!(percent_encode_header_value(raw), sent, "{raw:?}");
        }
        assert!(matches!(
            percent_encode_header_value("service-account-zeebe"),
            Cow::Borrowed(_)
        ));
        let principal = Arc::new(Principal {
            subject: "alice\r\nx-injected: 1".into(),
            client_id: "zeebe".into(),
            grants: Default::default(),
            tenants: Default::default(),
            expires_at: 0,
        });
        let r = into_check_response(
            &Decision::Allow {
                principal,
                realm: "camunda".into(),
            },
            &IdentityHeaders::default(),
        );
        let Some(HttpResponse::OkResponse(ok)) = r.http_response else {
            panic!("not allowed")
        };
        for h in &ok.headers {
            let v = &h.header.as_ref().unwrap().value;
            assert!(v.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{v:?}");
        }
    }

    #[test]
    fn deny_sets_http_status_grpc_headers_and_message() {
        let d = Decision::Deny(Deny::new(Outcome::Expired, "token expired"));
        let r = into_check_response(&d, &IdentityHeaders::default());
        assert_eq!(r.status.as_ref().unwrap().code, 16);
        let Some(HttpResponse::DeniedResponse(denied)) = r.http_response else {
            panic!("not denied")
        };
        assert_eq!(denied.status.unwrap().code, 401);
        let get = |k: &str| {
            denied
                .headers
                .iter()
                .find(|h| h.header.as_ref().unwrap().key == k)
                .unwrap()
                .header
                .clone()
                .unwrap()
                .value
        };
        assert_eq!(get("grpc-status"), "16");
        assert_eq!(get("grpc-message"), "zeebe-authz: token expired");
    }

    #[test]
    fn grpc_message_is_percent_encoded() {
        assert_eq!(percent_encode_grpc_message("ok text"), "ok text");
        assert_eq!(percent_encode_grpc_message("100% ü\n"), "100%25 %C3%BC%0A");
    }
}
