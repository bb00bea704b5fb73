//! The one place a `CheckResponse` is made: written as protobuf bytes straight from the
//! verdict into one buffer, which tonic sends as the message.
//!
//! What a verdict turns into: a deny is always a `CheckResponse` (never a tonic error: Envoy
//! treats an error as an outage and, configured fail-open, would let the call through), with
//! the HTTP status Envoy maps back to the gRPC status for gRPC clients, an explicit
//! `grpc-status` and a percent-encoded `grpc-message`. A deny at the REST door, or on another
//! path by a request that is not a gRPC call (Operate's `/v1` beside `/v2`: see
//! `PathLabel::answered_as_problem`), is answered as REST clients read one: the HTTP status
//! (401, 403, 503), an `application/problem+json` body (RFC 9457, as the gateway's own problem
//! details) and, on a 401, `www-authenticate: Bearer`. An allow carries the identity headers,
//! overwriting what a client sent. Every answer carries the decision as dynamic metadata
//! (namespace `envoy.filters.http.ext_authz`), for Envoy's access log: `decision_id`,
//! `reason`, `rpc`, `door`, `realm` and `subject` when known, `dry_run: true` when the realm
//! only reports. The escaping of `grpc-message` and of the identity header values is the core's
//! `text`, so a principal's and a realm's header values are escaped once, when they are made.
//!
//! Building envoy-types' `CheckResponse` first would cost a `String` per header name and value,
//! a `HashMap` (with SipHash) and a `String` per metadata key and value, and a second walk to
//! encode them: about a dozen allocations per Check, on the hot path. The bytes are
//! a valid encoding of that message (prost orders the fields differently; both decode to the
//! same message, which the tests check by decoding the bytes with prost); benches, tools and
//! the fuzz harness get the same bytes from [`super::response_bytes`].
//!
//! The texts of the answer are gathered first ([`Answer`]); every message's length is then
//! computed from them, so each length prefix is written before its message, in one pass with
//! no bytes moved afterwards, into a buffer of the exact size.
//!
//! Field numbers (envoy `service/auth/v3/external_auth.proto`, `config/core/v3/base.proto`,
//! `google/rpc/status.proto`, `google/protobuf/struct.proto`, `type/v3/http_status.proto`):
//! `CheckResponse { status = 1; denied_response = 2; ok_response = 3; dynamic_metadata = 4 }`,
//! `Status { code = 1; message = 2 }`, `DeniedHttpResponse { status = 1; headers = 2 }`,
//! `HttpStatus { code = 1 }`, `DeniedHttpResponse.body = 3`,
//! `OkHttpResponse { headers = 2; headers_to_remove = 5 }`,
//! `HeaderValueOption { header = 1; append_action = 3 }`, `HeaderValue { key = 1; value = 2 }`,
//! `Struct { map<string, Value> fields = 1 }`, `Value { string_value = 3; bool_value = 4 }`.
//! Every field number is below 16, so every tag is one byte.

use std::borrow::Cow;

use bytes::BufMut;

use zeebe_authz_core::decision::Verdict;
use zeebe_authz_core::outcome::GrpcCode;

use zeebe_authz_core::text::percent_encode_grpc_message;

/// `HeaderValueOption.HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD`.
const OVERWRITE_IF_EXISTS_OR_ADD: u8 = 2;

/// `HeaderValueOption.append_action = OVERWRITE_IF_EXISTS_OR_ADD`: tag (field 3, varint), value.
const OVERWRITE: [u8; 2] = [3 << 3, OVERWRITE_IF_EXISTS_OR_ADD];

/// Where an answer is written: tonic's encode buffer (the bytes sent), or a `Vec` (tests and
/// tools, which decode it).
pub(crate) trait Sink: BufMut {
    /// Makes room for `additional` more bytes.
    fn reserve(&mut self, additional: usize);
}

impl Sink for Vec<u8> {
    fn reserve(&mut self, additional: usize) {
        Vec::reserve(self, additional);
    }
}

impl Sink for tonic::codec::EncodeBuf<'_> {
    fn reserve(&mut self, additional: usize) {
        tonic::codec::EncodeBuf::reserve(self, additional);
    }
}

/// The verdict's `CheckResponse`, encoded.
pub(crate) fn encode_check_response(verdict: &Verdict, out: &mut impl Sink) {
    let answer = Answer::of(verdict);
    let len = answer.len();
    out.reserve(len);
    let room = out.remaining_mut();
    answer.write(out);
    debug_assert_eq!(
        room - out.remaining_mut(),
        len,
        "the computed length is the written one"
    );
}

/// What the response says, with the texts it carries.
struct Answer<'a> {
    verdict: &'a Verdict,
    kind: Kind<'a>,
    /// Whether the answer carries `dynamic_metadata` at all.
    carried: bool,
    /// The `Struct.fields` entries with a string value (`dry_run` is written apart): each
    /// key as written ([`key_field`]) and the value.
    metadata: [Option<(&'static [u8], &'a [u8])>; 6],
    /// The body lengths of `ok_response` (0 for a deny) and of `dynamic_metadata`.
    ok_len: usize,
    metadata_len: usize,
}

enum Kind<'a> {
    /// A deny that is enforced: the client sees `message`.
    Denied {
        code: GrpcCode,
        message: String,
        /// `message` as `grpc-message`, when escaping changes it (else `message` is sent).
        escaped: Option<String>,
        /// At the REST door: the problem details sent as the body, and the 401's challenge.
        problem: Option<(String, Option<&'static str>)>,
    },
    /// An allow, or a deny a dry-run realm does not enforce: the identity headers, each
    /// `(name, Some(value))` to overwrite or `(name, None)` to remove.
    Allowed([(&'a str, Option<&'a str>); 3]),
}

impl<'a> Answer<'a> {
    fn of(verdict: &'a Verdict) -> Answer<'a> {
        let kind = match verdict.status() {
            Some((code, message)) => {
                let escaped = match percent_encode_grpc_message(&message) {
                    Cow::Borrowed(_) => None,
                    Cow::Owned(escaped) => Some(escaped),
                };
                let problem = verdict
                    .problem_details()
                    .map(|body| (body, verdict.bearer_challenge()));
                Kind::Denied {
                    code,
                    message,
                    escaped,
                    problem,
                }
            }
            None => Kind::Allowed(identity(verdict)),
        };
        // An answer without metadata leaves `dynamic_metadata` out entirely: Envoy then skips
        // storing it (and the `ext_authz_duration` it adds): ~8.4k of its instructions for the
        // first entry, ~3.7k for each further one (BENCHMARKS.md, "What an answer costs Envoy").
        let carried = verdict.metadata.carried_by(&verdict.decision);
        let metadata = if !carried {
            [None; 6]
        } else {
            [
                Some((&DECISION_ID[..], verdict.id.as_bytes())),
                Some((&REASON[..], verdict.decision.outcome().reason().as_bytes())),
                Some((&RPC[..], verdict.path.as_str().as_bytes())),
                Some((&DOOR[..], verdict.path.door().as_bytes())),
                verdict
                    .realm
                    .as_deref()
                    .map(|realm| (&REALM[..], realm.as_bytes())),
                verdict
                    .principal
                    .as_ref()
                    .map(|p| (&SUBJECT[..], p.subject.as_bytes())),
            ]
        };
        let mut answer = Answer {
            verdict,
            kind,
            carried,
            metadata,
            ok_len: 0,
            metadata_len: 0,
        };
        answer.ok_len = answer.ok_len();
        answer.metadata_len = answer.metadata_len();
        answer
    }

    /// The encoded length of the whole `CheckResponse`.
    fn len(&self) -> usize {
        let answer = match &self.kind {
            Kind::Denied { .. } => {
                delimited_len(self.denied_status_len()) + delimited_len(self.denied_len())
            }
            Kind::Allowed(_) => delimited_len(0) + delimited_len(self.ok_len),
        };
        answer
            + if self.carried {
                delimited_len(self.metadata_len)
            } else {
                0
            }
    }

    fn write(&self, out: &mut impl Sink) {
        match &self.kind {
            Kind::Denied {
                code,
                message,
                escaped,
                problem,
            } => {
                put_delimited(out, 1, self.denied_status_len());
                put_varint_field(out, 1, *code as u64);
                put_string(out, 2, message);
                put_delimited(out, 2, self.denied_len());
                put_delimited(out, 1, varint_field_len(self.http_status()));
                put_varint_field(out, 1, self.http_status());
                let escaped = escaped.as_deref().unwrap_or(message);
                for (key, value) in denied_headers(*code, escaped, problem.as_ref())
                    .iter()
                    .flatten()
                {
                    put_header(out, 2, key, value);
                }
                if let Some((body, _)) = problem {
                    put_string(out, 3, body);
                }
            }
            Kind::Allowed(headers) => {
                // `Status { code: OK }`: every field at its default, an empty message.
                put_delimited(out, 1, 0);
                put_delimited(out, 3, self.ok_len);
                for (name, value) in headers {
                    match value {
                        Some(value) => put_header(out, 2, name, value),
                        None => put_string(out, 5, name),
                    }
                }
            }
        }
        if !self.carried {
            return;
        }
        put_delimited(out, 4, self.metadata_len);
        for (key, value) in self.metadata.iter().flatten() {
            put_delimited(out, 1, text_entry_len(key, value));
            out.put_slice(key);
            // A member of `Value`'s oneof, so written even when empty: an absent one would
            // read as no value at all.
            put_delimited(out, 2, delimited_len(value.len()));
            put_delimited(out, 3, value.len());
            out.put_slice(value);
        }
        if self.verdict.dry_run {
            put_delimited(out, 1, DRY_RUN_ENTRY_LEN);
            put_string(out, 1, DRY_RUN);
            put_delimited(out, 2, TRUE_VALUE.len());
            out.put_slice(&TRUE_VALUE);
        }
    }

    fn denied_status_len(&self) -> usize {
        match &self.kind {
            Kind::Denied { code, message, .. } => {
                varint_field_len(*code as u64) + string_len(message)
            }
            Kind::Allowed(_) => 0,
        }
    }

    fn http_status(&self) -> u64 {
        match &self.kind {
            Kind::Denied { code, .. } => u64::try_from(code.http_status()).unwrap_or(0),
            Kind::Allowed(_) => 0,
        }
    }

    fn denied_len(&self) -> usize {
        let Kind::Denied {
            code,
            message,
            escaped,
            problem,
        } = &self.kind
        else {
            return 0;
        };
        delimited_len(varint_field_len(self.http_status()))
            + denied_headers(
                *code,
                escaped.as_deref().unwrap_or(message),
                problem.as_ref(),
            )
            .iter()
            .flatten()
            .map(|(key, value)| delimited_len(header_len(key, value)))
            .sum::<usize>()
            + problem.as_ref().map_or(0, |(body, _)| string_len(body))
    }

    fn ok_len(&self) -> usize {
        let Kind::Allowed(headers) = &self.kind else {
            return 0;
        };
        headers
            .iter()
            .map(|(name, value)| match value {
                Some(value) => delimited_len(header_len(name, value)),
                None => string_len(name),
            })
            .sum()
    }

    fn metadata_len(&self) -> usize {
        let texts: usize = self
            .metadata
            .iter()
            .flatten()
            .map(|(key, value)| delimited_len(text_entry_len(key, value)))
            .sum();
        texts
            + if self.verdict.dry_run {
                delimited_len(DRY_RUN_ENTRY_LEN)
            } else {
                0
            }
    }
}

/// The headers of an enforced deny: the gRPC status for gRPC clients, whatever HTTP status
/// Envoy answers with; for a REST client, the problem details' content type and, on a 401,
/// the bearer challenge.
fn denied_headers<'a>(
    code: GrpcCode,
    escaped: &'a str,
    problem: Option<&(String, Option<&'static str>)>,
) -> [Option<(&'static str, &'a str)>; 3] {
    match problem {
        Some((_, challenge)) => [
            Some(("content-type", "application/problem+json")),
            challenge.map(|c| ("www-authenticate", c)),
            None,
        ],
        None => [
            Some(("grpc-status", code.as_str())),
            Some(("grpc-message", escaped)),
            Some(("content-type", "application/grpc")),
        ],
    }
}

/// The identity headers of an allowed call, overwriting what the client sent; without a valid
/// principal (a dry-run realm letting an invalid token through) each configured one is
/// removed, so a client cannot smuggle its own.
fn identity(verdict: &Verdict) -> [(&str, Option<&str>); 3] {
    fn header<'a>(name: &'a str, value: &'a str, sent: bool) -> (&'a str, Option<&'a str>) {
        (name, (sent && !value.is_empty()).then_some(value))
    }
    let names = &verdict.headers;
    // The values as headers carry them, escaped when the principal was cached and the realm
    // compiled (`HeaderText`): an allow does not look at their bytes.
    let (subject, client_id, realm) = match (&verdict.principal, &verdict.realm) {
        (Some(p), Some(realm)) => (
            p.subject.header_value(),
            p.client_id.header_value(),
            realm.header_value(),
        ),
        _ => ("", "", ""),
    };
    let sent = names.sent();
    // A name not sent is removed all the same: a client must not reach the gateway with its
    // own `x-zeebe-authz-realm` because only the subject is configured to be sent. An empty
    // value removes the header instead (Envoy drops empty values, which would leave a smuggled
    // one in place). Token text may hold CR/LF or other bytes Envoy refuses in a header value
    // (it would then fail the whole request): it is escaped (an empty text escapes to empty).
    [
        header(&names.subject, subject, sent[0]),
        header(&names.client_id, client_id, sent[1]),
        header(&names.realm, realm, sent[2]),
    ]
}

/// The `dry_run` entry: its key, and `Value { bool_value: true }`.
const DRY_RUN: &str = "dry_run";
const TRUE_VALUE: [u8; 2] = [4 << 3, 1];
const DRY_RUN_ENTRY_LEN: usize = 2 + DRY_RUN.len() + 2 + TRUE_VALUE.len();

/// The body length of a `HeaderValueOption` that overwrites `key` with `value`.
#[inline]
fn header_len(key: &str, value: &str) -> usize {
    delimited_len(string_len(key) + string_len(value)) + OVERWRITE.len()
}

/// The body length of a `Struct.fields` entry with a string value, `key` as written.
#[inline]
fn text_entry_len(key: &[u8], value: &[u8]) -> usize {
    key.len() + delimited_len(delimited_len(value.len()))
}

/// The metadata keys as written: their tag, length and name are the same in every answer.
const DECISION_ID: [u8; 13] = key_field("decision_id");
const REASON: [u8; 8] = key_field("reason");
const RPC: [u8; 5] = key_field("rpc");
const DOOR: [u8; 6] = key_field("door");
const REALM: [u8; 7] = key_field("realm");
const SUBJECT: [u8; 9] = key_field("subject");

/// A `Struct.fields` entry's key as written: tag (field 1, length-delimited), length, name.
const fn key_field<const N: usize>(name: &str) -> [u8; N] {
    let name = name.as_bytes();
    assert!(name.len() + 2 == N && name.len() < 0x80);
    let mut out = [0u8; N];
    out[0] = 1 << 3 | 2;
    out[1] = name.len() as u8;
    let mut i = 0;
    while i < name.len() {
        out[i + 2] = name[i];
        i += 1;
    }
    out
}

/// One `HeaderValueOption` that overwrites `key` with `value`.
#[inline]
fn put_header(out: &mut impl Sink, field: u8, key: &str, value: &str) {
    put_delimited(out, field, header_len(key, value));
    put_delimited(out, 1, string_len(key) + string_len(value));
    put_string(out, 1, key);
    put_string(out, 2, value);
    out.put_slice(&OVERWRITE);
}

/// The length of a length-delimited field (a one-byte tag) with a body of `len` bytes.
#[inline]
fn delimited_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// The length of a string field, left out when empty (proto3's default).
#[inline]
fn string_len(value: &str) -> usize {
    if value.is_empty() {
        0
    } else {
        delimited_len(value.len())
    }
}

/// The length of a varint field, left out at 0 (proto3's default).
#[inline]
fn varint_field_len(value: u64) -> usize {
    if value == 0 { 0 } else { 1 + varint_len(value) }
}

/// Bytes of `value` as a varint: 7 bits a byte.
#[inline]
fn varint_len(value: u64) -> usize {
    if value < 0x80 {
        1
    } else {
        (64 - value.leading_zeros() as usize).div_ceil(7)
    }
}

/// A varint field, left out at 0.
#[inline]
fn put_varint_field(out: &mut impl Sink, field: u8, value: u64) {
    if value != 0 {
        out.put_u8(field << 3);
        put_varint(out, value);
    }
}

/// A string field, left out when empty.
#[inline]
fn put_string(out: &mut impl Sink, field: u8, value: &str) {
    if !value.is_empty() {
        put_delimited(out, field, value.len());
        out.put_slice(value.as_bytes());
    }
}

/// The tag and length of a length-delimited field (a message is written even when empty, as
/// prost writes a `Some` message); its body follows.
#[inline]
fn put_delimited(out: &mut impl Sink, field: u8, len: usize) {
    out.put_u8(field << 3 | 2);
    put_varint(out, len as u64);
}

#[inline]
fn put_varint(out: &mut impl Sink, mut value: u64) {
    if value < 0x80 {
        out.put_u8(value as u8);
        return;
    }
    while value >= 0x80 {
        out.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

#[cfg(test)]
mod tests;
