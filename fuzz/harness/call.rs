//! What a `check` input decodes into: a [`Call`] (host, path, token, body choices) and the
//! tables its indexes pick from; the hand-made seeds build them too.

use super::*;

/// Host spellings a [`Call`] picks from; one more index takes the call's text.
pub const HOSTS: &[&str] = &[
    DEV_HOST,
    "ZEEBE.Example.COM",
    "zeebe.example.com.",
    "zeebe.example.com:26500",
    "Zeebe.Example.Com.:443",
    OTHER_HOST,
    "other.example.com:26500",
    "unknown.example.com",
    "",
    "zeebe.example.com:",
    "zeebe.example.com..",
    "zeebe.example.com:x",
    "[::1]:26500",
    "zeebe.example.com.other.example.com",
];

/// Paths a [`Call`] picks from (`{}` is the rpc name): the exact path, then mutations; the
/// next index takes the call's text, the ones after it up to [`PATH_CHOICES`] the exact path.
pub const PATHS: &[&str] = &[
    "/gateway_protocol.Gateway/{}",
    "/gateway_protocol.Gateway/{}?x=1",
    "/gateway_protocol.Gateway/{};x",
    "/gateway_protocol.Gateway/%{}",
    "/gateway_protocol.Gateway/{}/",
    "/grpc.health.v1.Health/Check",
    "/gateway_protocol.gateway/{}",
    "//gateway_protocol.Gateway/{}",
    "/gateway_protocol.Gateway/{} ",
    "/gateway_protocol.Gateway%2F{}",
    "/gateway_protocol.Gateway/{}\0",
    "gateway_protocol.Gateway/{}",
    "/gateway_protocol.Gateway/lower:{}",
];
/// How many path choices there are (about half of them the exact path).
pub const PATH_CHOICES: u8 = 24;

/// Tenant ids and job types a message's fields pick from; one more index takes the call's text.
pub const TENANTS: &[&str] = &[
    "tenant-a",
    "tenant-b",
    "",
    "<default>",
    "TENANT-A",
    "tenant-a ",
    "tenant-a\0",
];
/// See [`TENANTS`].
pub const JOB_TYPES: &[&str] = &[
    "payment",
    "payment-refund",
    "shipping",
    "",
    "Payment",
    "xpayment",
    "paymen",
];

/// Body shapes a [`Call`] picks from.
pub const BODIES: &[&str] = &[
    "empty",
    "plain frame",
    "gzip frame",
    "gzip frame of two members (first, second)",
    "plain frame of two messages merged (first, second)",
    "the call's text",
    "gzip frame, the call's text after the member",
    "plain message with the compressed flag",
    "gzip member with the plain flag",
    "plain frame missing its last byte",
    "two frames (first, second)",
];

/// `grpc-encoding` choices after index 0; 0 and indexes past the end send `gzip` for
/// compressed bodies only.
pub const ENCODINGS: &[Option<&str>] = &[
    None,
    Some("gzip"),
    Some("GZIP"),
    Some(" gzip "),
    Some("identity"),
    Some("deflate"),
];

/// `x-envoy-auth-partial-body` choices after index 0; 0 and indexes past the end send none.
pub const PARTIALS: &[&str] = &["true", "TRUE", "false", "1"];

/// `authorization` header shapes (`{}` is the token, a second `{}` the call's text); indexes
/// past the end are `Bearer {}`.
pub const FORMS: &[&str] = &[
    "Bearer {}",
    "bearer {}",
    "BEARER   {}  ",
    "Basic {}",
    "{}",
    "Bearer {}x",
    "Bearer x{}",
    "Bearer {} {}",
    "Bearer\t{}",
];

/// The fields of one request message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageChoice {
    /// How many tenants (0, 1 or 2; singular tenant fields take the first).
    pub tenants: u8,
    /// Indexes into [`TENANTS`].
    pub tenant: [u8; 2],
    /// Index into [`JOB_TYPES`].
    pub job_type: u8,
}

/// One Check, as a `check` input encodes it: one byte per choice (taken modulo the number of
/// choices), then a text of up to 65535 bytes (two bytes little-endian length, lossy UTF-8)
/// that the "text" choices use. An input is up to four calls; a missing byte reads as 0.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Call {
    /// Index into [`TOKEN_NAMES`], then no header, then the text.
    pub token: u8,
    /// Index into [`FORMS`].
    pub form: u8,
    /// Index into [`HOSTS`], then the text.
    pub host: u8,
    /// The rpc, by catalog index.
    pub rpc: u8,
    /// Index into [`PATHS`], then the text, then exact paths up to [`PATH_CHOICES`].
    pub path: u8,
    /// Index into [`BODIES`].
    pub body: u8,
    /// The rpc whose request the body holds: 0 is the path's, `n` the catalog's `n - 1`.
    pub body_rpc: u8,
    /// 0: automatic, else index + 1 into [`ENCODINGS`].
    pub encoding: u8,
    /// 0: none, else index + 1 into [`PARTIALS`].
    pub partial: u8,
    /// Even: headers in `headers`; odd: in `header_map` as raw values.
    pub raw_headers: u8,
    /// The (first) request message.
    pub first: MessageChoice,
    /// The second message (two-member and merged bodies).
    pub second: MessageChoice,
    /// The call's text.
    pub text: Vec<u8>,
}

/// Reads bytes; past the end, zeros.
pub(crate) struct Choices<'a>(&'a [u8]);

impl Choices<'_> {
    fn byte(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }

    fn message(&mut self) -> MessageChoice {
        MessageChoice {
            tenants: self.byte(),
            tenant: [self.byte(), self.byte()],
            job_type: self.byte(),
        }
    }
}

impl Call {
    /// Decodes the calls of a `check` input.
    pub fn decode_all(data: &[u8]) -> Vec<Call> {
        let mut c = Choices(data);
        let mut calls = Vec::new();
        while !c.0.is_empty() && calls.len() < 4 {
            let mut call = Call {
                token: c.byte(),
                form: c.byte(),
                host: c.byte(),
                rpc: c.byte(),
                path: c.byte(),
                body: c.byte(),
                body_rpc: c.byte(),
                encoding: c.byte(),
                partial: c.byte(),
                raw_headers: c.byte(),
                first: c.message(),
                second: c.message(),
                text: Vec::new(),
            };
            let len = usize::from(u16::from_le_bytes([c.byte(), c.byte()])).min(c.0.len());
            call.text = c.0[..len].to_vec();
            c.0 = &c.0[len..];
            calls.push(call);
        }
        calls
    }

    /// Encodes calls as a `check` input (the inverse of [`Call::decode_all`]).
    pub fn encode_all(calls: &[Call]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in calls {
            out.extend([
                c.token,
                c.form,
                c.host,
                c.rpc,
                c.path,
                c.body,
                c.body_rpc,
                c.encoding,
                c.partial,
                c.raw_headers,
            ]);
            for m in [&c.first, &c.second] {
                out.extend([m.tenants, m.tenant[0], m.tenant[1], m.job_type]);
            }
            let len = u16::try_from(c.text.len()).expect("a call's text fits 65535 bytes");
            out.extend(len.to_le_bytes());
            out.extend(&c.text);
        }
        out
    }
}
