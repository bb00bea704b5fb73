//! The one place a `CheckResponse` is made: written as protobuf bytes straight from the
//! verdict into one buffer, which tonic sends as the message.
//!
//! Building envoy-types' `CheckResponse` first would cost a `String` per header name and value,
//! a `HashMap` (with SipHash) and a `String` per metadata key and value, and a second walk to
//! encode them: about a dozen allocations per Check, on the hot path. The bytes are
//! a valid encoding of that message (prost orders the fields differently; both decode to the
//! same message, which the tests check by decoding the bytes with prost), and
//! [`super::check`] gives the message itself, decoded from them, for tests and tools.
//!
//! Field numbers (envoy `service/auth/v3/external_auth.proto`, `config/core/v3/base.proto`,
//! `google/rpc/status.proto`, `google/protobuf/struct.proto`, `type/v3/http_status.proto`):
//! `CheckResponse { status = 1; denied_response = 2; ok_response = 3; dynamic_metadata = 4 }`,
//! `Status { code = 1; message = 2 }`, `DeniedHttpResponse { status = 1; headers = 2 }`,
//! `HttpStatus { code = 1 }`, `OkHttpResponse { headers = 2; headers_to_remove = 5 }`,
//! `HeaderValueOption { header = 1; append_action = 3 }`, `HeaderValue { key = 1; value = 2 }`,
//! `Struct { map<string, Value> fields = 1 }`, `Value { string_value = 3; bool_value = 4 }`.

use crate::decision::{Decision, Verdict};

use super::response::{percent_encode_grpc_message, percent_encode_header_value};

/// `HeaderValueOption.HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD`.
const OVERWRITE_IF_EXISTS_OR_ADD: u64 = 2;

/// The verdict's `CheckResponse`, encoded.
pub(crate) fn encode_check_response(verdict: &Verdict, out: &mut Vec<u8>) {
    match (&verdict.decision, verdict.client_message()) {
        (Decision::Deny(deny), Some(message)) => {
            let code = deny.outcome.code();
            message_field(out, 1, |out| {
                varint_field(out, 1, code as u64);
                string_field(out, 2, &message);
            });
            message_field(out, 2, |out| {
                message_field(out, 1, |out| {
                    varint_field(out, 1, u64::try_from(code.http_status()).unwrap_or(0));
                });
                header(out, 2, "grpc-status", code.as_str());
                header(
                    out,
                    2,
                    "grpc-message",
                    &percent_encode_grpc_message(&message),
                );
                header(out, 2, "content-type", "application/grpc");
            });
        }
        // An allow, or a deny a dry-run realm does not enforce.
        _ => {
            // `Status { code: OK }`: every field at its default, an empty message.
            message_field(out, 1, |_| {});
            message_field(out, 3, |out| identity(verdict, out));
        }
    }
    message_field(out, 4, |out| metadata(verdict, out));
}

/// The identity headers of an allowed call, overwriting what the client sent; without a valid
/// principal (a dry-run realm letting an invalid token through) each configured one is
/// removed, so a client cannot smuggle its own.
fn identity(verdict: &Verdict, out: &mut Vec<u8>) {
    let names = &verdict.headers;
    let (subject, client_id, realm) = match (&verdict.principal, &verdict.realm) {
        (Some(p), Some(realm)) => (&*p.subject, &*p.client_id, &**realm),
        _ => ("", "", ""),
    };
    let headers = [
        (&*names.subject, subject),
        (&*names.client_id, client_id),
        (&*names.realm, realm),
    ];
    for ((name, value), sent) in headers.into_iter().zip(names.sent()) {
        // A name not sent is removed all the same: a client must not reach the gateway with
        // its own `x-zeebe-authz-realm` because only the subject is configured to be sent.
        if !sent || value.is_empty() {
            // An empty value removes the header instead (Envoy drops empty values, which
            // would leave a smuggled one in place).
            string_field(out, 5, name);
        } else {
            // Token text may hold CR/LF or other bytes Envoy refuses in a header value (it
            // would then fail the whole request): escape them.
            header(out, 2, name, &percent_encode_header_value(value));
        }
    }
}

/// The decision for Envoy's access log (`%DYNAMIC_METADATA(envoy.filters.http.ext_authz:reason)%`).
fn metadata(verdict: &Verdict, out: &mut Vec<u8>) {
    text_entry(out, "decision_id", verdict.id.as_str());
    text_entry(out, "reason", verdict.decision.outcome().reason());
    text_entry(out, "rpc", verdict.path.as_str());
    if let Some(realm) = &verdict.realm {
        text_entry(out, "realm", realm);
    }
    if let Some(p) = &verdict.principal {
        text_entry(out, "subject", &p.subject);
    }
    if verdict.dry_run {
        message_field(out, 1, |out| {
            string_field(out, 1, "dry_run");
            message_field(out, 2, |out| varint_field(out, 4, 1));
        });
    }
}

/// One `Struct.fields` entry with a string value (a member of `Value`'s oneof, so written even
/// when empty: an absent one would read as no value at all).
fn text_entry(out: &mut Vec<u8>, key: &str, value: &str) {
    message_field(out, 1, |out| {
        string_field(out, 1, key);
        message_field(out, 2, |out| {
            varint(out, 3 << 3 | 2);
            varint(out, value.len() as u64);
            out.extend_from_slice(value.as_bytes());
        });
    });
}

/// One `HeaderValueOption` that overwrites `key` with `value`.
fn header(out: &mut Vec<u8>, field: u32, key: &str, value: &str) {
    message_field(out, field, |out| {
        message_field(out, 1, |out| {
            string_field(out, 1, key);
            string_field(out, 2, value);
        });
        varint_field(out, 3, OVERWRITE_IF_EXISTS_OR_ADD);
    });
}

/// A varint field, left out at 0 (proto3's default).
fn varint_field(out: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        varint(out, u64::from(field) << 3);
        varint(out, value);
    }
}

/// A string field, left out when empty (proto3's default).
fn string_field(out: &mut Vec<u8>, field: u32, value: &str) {
    if !value.is_empty() {
        varint(out, u64::from(field) << 3 | 2);
        varint(out, value.len() as u64);
        out.extend_from_slice(value.as_bytes());
    }
}

/// A message field (always present, even when empty, as prost writes a `Some` message): its
/// body is written in place after a one-byte length, which is widened afterwards if needed.
fn message_field(out: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    varint(out, u64::from(field) << 3 | 2);
    let at = out.len();
    out.push(0);
    body(out);
    let len = out.len() - at - 1;
    let mut prefix = [0u8; 10];
    let n = varint_into(&mut prefix, len as u64);
    if n == 1 {
        out[at] = prefix[0];
    } else {
        out.splice(at..=at, prefix[..n].iter().copied());
    }
}

fn varint(out: &mut Vec<u8>, value: u64) {
    let mut buf = [0u8; 10];
    let n = varint_into(&mut buf, value);
    out.extend_from_slice(&buf[..n]);
}

fn varint_into(buf: &mut [u8; 10], mut value: u64) -> usize {
    let mut i = 0;
    while value >= 0x80 {
        buf[i] = (value as u8) | 0x80;
        value >>= 7;
        i += 1;
    }
    buf[i] = value as u8;
    i + 1
}
