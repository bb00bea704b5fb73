//! Reading request fields out of the gRPC body Envoy forwards (`raw_body`, sent with
//! `with_request_body` and `pack_as_bytes`).
//!
//! Pure and allocation-light: a body is one gRPC frame (1-byte compressed flag, 4-byte
//! big-endian length, one protobuf message). Only the fields a [`FieldSelection`] names are read,
//! as `&str` borrowed from the message; everything else is skipped by wire type without being
//! decoded. Protobuf's rules are followed where they matter for security: for a singular field
//! the **last** occurrence wins and occurrences of a nested message merge, so a body cannot show
//! one tenant to the authorizer and another to the gateway. Repeated fields collect every
//! occurrence. Anything malformed is an error with a reason, never a panic and never a guess.
//!
//! A gzip frame is inflated **whole**: the gateway (grpc-java, `GZIPInputStream`) reads every
//! concatenated gzip member, so the authorizer does too. Bytes after the last member that do
//! not form another member are refused (`GZIPInputStream` would skip them; refusing is never
//! less safe than reading them), so no decision is ever taken on fewer bytes than the gateway
//! executes.

use std::io::Read as _;

/// The largest message we decompress (Zeebe's default max message size is 4 MiB).
pub const MAX_DECOMPRESSED_BYTES: usize = 4 << 20;

/// What a tenant condition answers when a job activation's `tenantFilter` (Camunda 8.9+; a
/// JSON member on REST, a protobuf enum on gRPC) is anything but PROVIDED.
pub(crate) const TENANT_FILTER_NOT_PROVIDED: &str =
    "not PROVIDED: the gateway would choose the tenants, unseen by the tenant condition";

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Envoy sent no body (ext_authz not configured with `with_request_body`).
    #[error("the request body was not forwarded by Envoy (configure ext_authz with_request_body)")]
    Missing,
    /// Envoy cut the body at `max_request_bytes` (`x-envoy-auth-partial-body: true`).
    #[error(
        "the request body was truncated by Envoy (x-envoy-auth-partial-body); raise max_request_bytes"
    )]
    Partial,
    /// Fewer bytes than the frame header announces: a cut body (Envoy forwards at most
    /// `max_request_bytes`, and does not always flag the cut) or a broken client.
    #[error(
        "truncated gRPC frame: header announces {announced} bytes, {present} present (Envoy forwards at most max_request_bytes of a body; raise it above the largest request a condition must see)"
    )]
    Truncated {
        /// Length in the frame header.
        announced: usize,
        /// Bytes after the header.
        present: usize,
    },
    /// Bytes after the first message (Zeebe rpcs take exactly one request message).
    #[error("the body holds more than one gRPC message")]
    TrailingData,
    /// The compressed flag is neither 0 nor 1.
    #[error("invalid gRPC frame flag {0}")]
    InvalidFlag(u8),
    /// A compressed frame in an encoding we do not read.
    #[error("unsupported grpc-encoding '{0}'")]
    UnsupportedEncoding(String),
    /// gzip data that does not inflate.
    #[error("invalid gzip data in the gRPC frame")]
    InvalidGzip,
    /// Inflates beyond [`MAX_DECOMPRESSED_BYTES`].
    #[error("compressed message inflates beyond {MAX_DECOMPRESSED_BYTES} bytes")]
    TooLarge,
    /// Not a valid protobuf message.
    #[error("malformed protobuf message: {0}")]
    Malformed(&'static str),
    /// A REST body that is not JSON as the gateway reads it.
    #[error("{0}")]
    Json(#[from] crate::json::JsonError),
    /// A REST `multipart/form-data` body that is not read.
    #[error("{0}")]
    Multipart(#[from] crate::multipart::MultipartError),
    /// A REST body whose content type the gateway would not read as JSON (or as the form the
    /// route takes).
    #[error("content type '{0}' is not read (application/json, UTF-8/16/32)")]
    ContentType(String),
    /// A member the gateway would refuse to bind, or whose value is ambiguous.
    #[error("member '{member}': {what}")]
    Member {
        /// The member.
        member: &'static str,
        /// What is wrong with it.
        what: &'static str,
    },
    /// A query string that may carry what the condition reads from the body.
    #[error("the query string names '{0}', which the condition reads from the body")]
    Query(&'static str),
}

/// The request body as Envoy forwarded it (`with_request_body`, `pack_as_bytes`), with its
/// `grpc-encoding` (or, on the REST door, its `content-type`) and whether Envoy flagged it
/// as cut.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestBody<'a> {
    /// `raw_body` (one gRPC frame, or a REST request's JSON or multipart body).
    pub raw: &'a [u8],
    /// The `grpc-encoding` header.
    pub encoding: Option<&'a str>,
    /// Whether Envoy flagged the body as cut at `max_request_bytes`.
    pub partial: bool,
    /// The `content-type` header (read on the REST door).
    pub content_type: Option<&'a str>,
}

/// One field to read: its number, and whether it sits inside a nested message field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldPath {
    /// For a field of a nested message (CreateProcessInstanceWithResult's `request`), the
    /// number of the enclosing field.
    pub outer: Option<u32>,
    /// The field number.
    pub number: u32,
    /// Whether the field is `repeated` (collect all) or singular (last wins).
    pub repeated: bool,
}

/// Up to `MAX_SLOTS` fields to read from one rpc's request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelection {
    slots: Vec<FieldPath>,
}

/// The most fields one selection reads.
pub(crate) const MAX_SLOTS: usize = 8;

impl FieldSelection {
    /// Adds a field; returns its slot index.
    pub fn add(&mut self, path: FieldPath) -> usize {
        if let Some(i) = self.slots.iter().position(|p| *p == path) {
            return i;
        }
        assert!(
            self.slots.len() < MAX_SLOTS,
            "a field selection reads at most {MAX_SLOTS} fields"
        );
        self.slots.push(path);
        self.slots.len() - 1
    }
}

/// The values read for a selection, by slot. Singular slots hold at most one value.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fields<'a> {
    values: [Vec<&'a str>; MAX_SLOTS],
}

impl<'a> Fields<'a> {
    /// The values of a slot (empty when the field was absent).
    pub fn get(&self, slot: usize) -> &[&'a str] {
        &self.values[slot]
    }
}

/// Unwraps the single gRPC frame of `body`. Returns the message bytes (borrowed when
/// uncompressed; inflated into `scratch` when gzip).
pub fn unframe<'b>(
    body: &'b [u8],
    encoding: Option<&str>,
    scratch: &'b mut Vec<u8>,
) -> Result<&'b [u8], BodyError> {
    if body.is_empty() {
        return Err(BodyError::Missing);
    }
    if body.len() < 5 {
        return Err(BodyError::Truncated {
            announced: 5,
            present: body.len(),
        });
    }
    let flag = body[0];
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    let rest = &body[5..];
    if rest.len() < len {
        return Err(BodyError::Truncated {
            announced: len,
            present: rest.len(),
        });
    }
    if rest.len() > len {
        return Err(BodyError::TrailingData);
    }
    match flag {
        0 => Ok(rest),
        1 => match encoding.map(str::trim) {
            Some(e) if e.eq_ignore_ascii_case("gzip") => {
                scratch.clear();
                // MultiGzDecoder, not GzDecoder: the latter stops after the first member and
                // would let a second member carry what the gateway actually runs.
                let mut inflater =
                    flate2::read::MultiGzDecoder::new(rest).take(MAX_DECOMPRESSED_BYTES as u64 + 1);
                inflater
                    .read_to_end(scratch)
                    .map_err(|_| BodyError::InvalidGzip)?;
                if scratch.len() > MAX_DECOMPRESSED_BYTES {
                    return Err(BodyError::TooLarge);
                }
                Ok(scratch.as_slice())
            }
            Some(e) => Err(BodyError::UnsupportedEncoding(e.chars().take(32).collect())),
            None => Err(BodyError::UnsupportedEncoding(
                "(none given for a compressed frame)".into(),
            )),
        },
        f => Err(BodyError::InvalidFlag(f)),
    }
}

/// Reads the selected fields from a protobuf message.
pub fn read_fields<'a>(
    message: &'a [u8],
    selection: &FieldSelection,
) -> Result<Fields<'a>, BodyError> {
    let mut fields = Fields::default();
    walk(message, None, selection, &mut fields)?;
    Ok(fields)
}

/// The value of a singular varint field at the top level of `message` (the last occurrence, as
/// protobuf-java keeps), or `None` when absent. An occurrence with another wire type is
/// refused: protobuf-java would skip it as unknown, and a body that says one thing to a
/// careless reader and another to the gateway is never guessed at.
pub fn last_varint(mut message: &[u8], number: u32) -> Result<Option<u64>, BodyError> {
    let mut last = None;
    while !message.is_empty() {
        let key = u32::try_from(read_varint(&mut message)?)
            .map_err(|_| BodyError::Malformed("field key beyond 32 bits"))?;
        let (this, wire) = (key >> 3, key & 7);
        if this == 0 {
            return Err(BodyError::Malformed("field number 0"));
        }
        if this == number && wire != 0 {
            return Err(BodyError::Malformed(
                "an enum field written with another wire type than varint",
            ));
        }
        match wire {
            0 => {
                let value = read_varint(&mut message)?;
                if this == number {
                    last = Some(value);
                }
            }
            1 | 5 => {
                let width = if wire == 1 { 8 } else { 4 };
                message = message
                    .get(width..)
                    .ok_or(BodyError::Malformed("truncated fixed-width field"))?;
            }
            2 => {
                let len = usize::try_from(read_varint(&mut message)?)
                    .map_err(|_| BodyError::Malformed("length out of range"))?;
                message = message.get(len..).ok_or(BodyError::Malformed(
                    "length-delimited field runs past the message",
                ))?;
            }
            3 | 4 => {
                return Err(BodyError::Malformed(
                    "groups are not used by the gateway protocol",
                ));
            }
            _ => return Err(BodyError::Malformed("invalid wire type")),
        }
    }
    Ok(last)
}

fn walk<'a>(
    mut buf: &'a [u8],
    outer: Option<u32>,
    selection: &FieldSelection,
    out: &mut Fields<'a>,
) -> Result<(), BodyError> {
    while !buf.is_empty() {
        // protobuf-java (the gateway) reads a key with readRawVarint32: it keeps the low 32
        // bits of up to ten bytes, so `b2 80 80 80 10` is field 6 there. A key beyond 32 bits
        // would name another field here than there: refuse it (prost does too).
        let key = u32::try_from(read_varint(&mut buf)?)
            .map_err(|_| BodyError::Malformed("field key beyond 32 bits"))?;
        let number = key >> 3;
        if number == 0 {
            return Err(BodyError::Malformed("field number 0"));
        }
        match key & 7 {
            0 => {
                read_varint(&mut buf)?;
            }
            1 => {
                buf = buf
                    .get(8..)
                    .ok_or(BodyError::Malformed("truncated 64-bit field"))?
            }
            5 => {
                buf = buf
                    .get(4..)
                    .ok_or(BodyError::Malformed("truncated 32-bit field"))?
            }
            2 => {
                let len = usize::try_from(read_varint(&mut buf)?)
                    .map_err(|_| BodyError::Malformed("length out of range"))?;
                if buf.len() < len {
                    return Err(BodyError::Malformed(
                        "length-delimited field runs past the message",
                    ));
                }
                let (value, rest) = buf.split_at(len);
                buf = rest;
                for (slot, path) in selection.slots.iter().enumerate() {
                    if path.outer == outer && path.number == number {
                        let s = std::str::from_utf8(value)
                            .map_err(|_| BodyError::Malformed("string field is not UTF-8"))?;
                        if !path.repeated {
                            out.values[slot].clear();
                        }
                        out.values[slot].push(s);
                    }
                }
                if outer.is_none() && selection.slots.iter().any(|p| p.outer == Some(number)) {
                    walk(value, Some(number), selection, out)?;
                }
            }
            3 | 4 => {
                return Err(BodyError::Malformed(
                    "groups are not used by the gateway protocol",
                ));
            }
            _ => return Err(BodyError::Malformed("invalid wire type")),
        }
    }
    Ok(())
}

fn read_varint(buf: &mut &[u8]) -> Result<u64, BodyError> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&b, rest) = buf
            .split_first()
            .ok_or(BodyError::Malformed("truncated varint"))?;
        *buf = rest;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok(value);
        }
    }
    Err(BodyError::Malformed("varint longer than 10 bytes"))
}

/// Frames a message as one uncompressed gRPC frame (tests, bench).
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 5);
    out.push(0);
    out.extend_from_slice(
        &u32::try_from(message.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(message);
    out
}

#[cfg(test)]
mod tests;
