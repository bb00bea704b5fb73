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
mod tests {
    use proptest::prelude::*;
    use prost::Message as _;

    use super::*;
    use crate::proto;

    fn select(paths: &[FieldPath]) -> FieldSelection {
        let mut p = FieldSelection::default();
        for path in paths {
            p.add(*path);
        }
        p
    }

    const TENANT6: FieldPath = FieldPath {
        outer: None,
        number: 6,
        repeated: false,
    };
    const BPMN2: FieldPath = FieldPath {
        outer: None,
        number: 2,
        repeated: false,
    };

    #[test]
    fn reads_fields_of_a_prost_encoded_message() {
        let msg = proto::CreateProcessInstanceRequest {
            bpmn_process_id: "order-process".into(),
            tenant_id: "tenant-a".into(),
            variables: r#"{"x":1}"#.into(),
            version: -1,
            tags: vec!["t".into()],
            ..Default::default()
        }
        .encode_to_vec();
        let body = frame(&msg);
        let mut scratch = Vec::new();
        let m = unframe(&body, None, &mut scratch).unwrap();
        let f = read_fields(m, &select(&[TENANT6, BPMN2])).unwrap();
        assert_eq!(f.get(0), ["tenant-a"]);
        assert_eq!(f.get(1), ["order-process"]);
    }

    #[test]
    fn nested_request_and_repeated_tenants() {
        let inner = proto::CreateProcessInstanceRequest {
            tenant_id: "tenant-b".into(),
            ..Default::default()
        };
        let msg = proto::CreateProcessInstanceWithResultRequest {
            request: Some(inner),
            request_timeout: 5,
            ..Default::default()
        }
        .encode_to_vec();
        let f = read_fields(
            &msg,
            &select(&[FieldPath {
                outer: Some(1),
                number: 6,
                repeated: false,
            }]),
        )
        .unwrap();
        assert_eq!(f.get(0), ["tenant-b"]);

        let jobs = proto::ActivateJobsRequest {
            r#type: "payment".into(),
            tenant_ids: vec!["a".into(), "b".into()],
            ..Default::default()
        }
        .encode_to_vec();
        let f = read_fields(
            &jobs,
            &select(&[
                FieldPath {
                    outer: None,
                    number: 7,
                    repeated: true,
                },
                FieldPath {
                    outer: None,
                    number: 1,
                    repeated: false,
                },
            ]),
        )
        .unwrap();
        assert_eq!(f.get(0), ["a", "b"]);
        assert_eq!(f.get(1), ["payment"]);
    }

    #[test]
    fn last_occurrence_wins_and_nested_messages_merge() {
        // tenantId twice: protobuf parsers (the gateway's too) keep the last one.
        let mut msg = proto::CreateProcessInstanceRequest {
            tenant_id: "tenant-a".into(),
            ..Default::default()
        }
        .encode_to_vec();
        msg.extend(
            proto::CreateProcessInstanceRequest {
                tenant_id: "tenant-b".into(),
                ..Default::default()
            }
            .encode_to_vec(),
        );
        assert_eq!(
            read_fields(&msg, &select(&[TENANT6])).unwrap().get(0),
            ["tenant-b"]
        );
        // Two `request` occurrences merge: the later tenant wins.
        let a = proto::CreateProcessInstanceWithResultRequest {
            request: Some(proto::CreateProcessInstanceRequest {
                tenant_id: "tenant-a".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let b = proto::CreateProcessInstanceWithResultRequest {
            request: Some(proto::CreateProcessInstanceRequest {
                bpmn_process_id: "p".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let c = proto::CreateProcessInstanceWithResultRequest {
            request: Some(proto::CreateProcessInstanceRequest {
                tenant_id: "tenant-c".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut msg = a.encode_to_vec();
        msg.extend(b.encode_to_vec());
        msg.extend(c.encode_to_vec());
        let decoded =
            proto::CreateProcessInstanceWithResultRequest::decode(msg.as_slice()).unwrap();
        let f = read_fields(
            &msg,
            &select(&[FieldPath {
                outer: Some(1),
                number: 6,
                repeated: false,
            }]),
        )
        .unwrap();
        assert_eq!(f.get(0), [decoded.request.unwrap().tenant_id.as_str()]);
    }

    #[test]
    fn frame_errors_are_precise() {
        let mut s = Vec::new();
        assert_eq!(unframe(&[], None, &mut s), Err(BodyError::Missing));
        assert_eq!(
            unframe(&[0, 0, 0], None, &mut s),
            Err(BodyError::Truncated {
                announced: 5,
                present: 3
            })
        );
        assert_eq!(
            unframe(&[0, 0, 0, 0, 9, 1], None, &mut s),
            Err(BodyError::Truncated {
                announced: 9,
                present: 1
            })
        );
        assert_eq!(
            unframe(&[0, 0, 0, 0, 1, 1, 2], None, &mut s),
            Err(BodyError::TrailingData)
        );
        assert_eq!(
            unframe(&[2, 0, 0, 0, 0], None, &mut s),
            Err(BodyError::InvalidFlag(2))
        );
        assert!(matches!(
            unframe(&[1, 0, 0, 0, 0], Some("deflate"), &mut s),
            Err(BodyError::UnsupportedEncoding(_))
        ));
        assert_eq!(
            unframe(&[1, 0, 0, 0, 1, 7], Some("gzip"), &mut s),
            Err(BodyError::InvalidGzip)
        );
        assert_eq!(unframe(&[0, 0, 0, 0, 0], None, &mut s), Ok(&[][..]));
    }

    #[test]
    fn gzip_frames_inflate_with_a_bound() {
        use std::io::Write as _;
        let msg = proto::PublishMessageRequest {
            name: "order-paid".into(),
            tenant_id: "tenant-a".into(),
            ..Default::default()
        }
        .encode_to_vec();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&msg).unwrap();
        let compressed = gz.finish().unwrap();
        let mut body = frame(&compressed);
        body[0] = 1;
        let mut s = Vec::new();
        let m = unframe(&body, Some("gzip"), &mut s).unwrap();
        assert_eq!(
            read_fields(m, &select(&[TENANT6])).unwrap().get(0),
            ["tenant-a"]
        );

        // A bomb: 5 MiB of zeros compress to a few KiB.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![0u8; 5 << 20]).unwrap();
        let mut bomb = frame(&gz.finish().unwrap());
        bomb[0] = 1;
        assert_eq!(
            unframe(&bomb, Some("gzip"), &mut s),
            Err(BodyError::TooLarge)
        );
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    }

    fn gzip_frame(compressed: &[u8]) -> Vec<u8> {
        let mut body = frame(compressed);
        body[0] = 1;
        body
    }

    #[test]
    fn multi_member_gzip_is_read_whole() {
        let member = |tenant: &str| {
            gzip(
                &proto::CreateProcessInstanceRequest {
                    tenant_id: tenant.into(),
                    ..Default::default()
                }
                .encode_to_vec(),
            )
        };
        let body = gzip_frame(&[member("tenant-a"), member("tenant-b")].concat());
        let mut s = Vec::new();
        let m = unframe(&body, Some("gzip"), &mut s).unwrap();
        // The gateway inflates both members and parses them as one message: last tenant wins.
        assert_eq!(
            read_fields(m, &select(&[TENANT6])).unwrap().get(0),
            ["tenant-b"]
        );
        // Bytes after the last member that are no gzip member are refused, not ignored.
        let body = gzip_frame(&[&member("tenant-a")[..], b"\0garbage"].concat());
        assert_eq!(
            unframe(&body, Some("gzip"), &mut s),
            Err(BodyError::InvalidGzip)
        );
        // The bound holds across members.
        let half = gzip(&vec![0u8; MAX_DECOMPRESSED_BYTES / 2 + 1]);
        let body = gzip_frame(&[half.clone(), half].concat());
        assert_eq!(
            unframe(&body, Some("gzip"), &mut s),
            Err(BodyError::TooLarge)
        );
    }

    #[test]
    fn a_key_beyond_32_bits_hides_a_field_from_us_but_not_from_the_gateway() {
        // Regression (found by the body fuzz target): `b2 80 80 80 10` is 2^32 + 0x32. Read
        // with 64 bits it was field 2^29 + 6 and skipped; protobuf-java keeps the low 32 bits
        // and reads tenantId (field 6), which then wins as the last occurrence.
        let mut msg = proto::CreateProcessInstanceRequest {
            bpmn_process_id: "order".into(),
            tenant_id: "tenant-a".into(),
            ..Default::default()
        }
        .encode_to_vec();
        msg.extend_from_slice(&[0xb2, 0x80, 0x80, 0x80, 0x10, 0x08]);
        msg.extend_from_slice(b"tenant-b");
        assert_eq!(
            read_fields(&msg, &select(&[TENANT6])),
            Err(BodyError::Malformed("field key beyond 32 bits"))
        );
        // A key padded to more bytes but within 32 bits is the same field in both readers.
        let mut padded = vec![0xb2, 0x80, 0x80, 0x80, 0x00, 0x08];
        padded.extend_from_slice(b"tenant-b");
        assert_eq!(
            read_fields(&padded, &select(&[TENANT6])).unwrap().get(0),
            ["tenant-b"]
        );
    }

    #[test]
    fn malformed_messages_are_errors() {
        let p = select(&[TENANT6]);
        for bad in [
            &[0x32, 0x05, b'a'][..],
            &[0xff; 11],
            &[0x33],
            &[0x00],
            &[0x32, 0x02, 0xff, 0xfe],
            &[0x31, 1, 2],
        ] {
            assert!(read_fields(bad, &p).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300), gz in any::<bool>()) {
            let mut s = Vec::new();
            let p = select(&[TENANT6, FieldPath { outer: Some(1), number: 6, repeated: false }, FieldPath { outer: None, number: 7, repeated: true }]);
            if let Ok(m) = unframe(&body, gz.then_some("gzip"), &mut s) {
                let _ = read_fields(m, &p);
            }
            let _ = read_fields(&body, &p);
        }

        #[test]
        fn round_trip_with_prost(tenant in "[a-z0-9_.-]{0,31}", bpmn in "\\PC{0,40}", vars in "\\PC{0,200}", version in any::<i32>(), key in any::<i64>()) {
            let msg = proto::CreateProcessInstanceRequest {
                process_definition_key: key,
                bpmn_process_id: bpmn.clone(),
                version,
                variables: vars,
                tenant_id: tenant.clone(),
                ..Default::default()
            };
            let body = frame(&msg.encode_to_vec());
            let mut s = Vec::new();
            let f = read_fields(unframe(&body, None, &mut s).unwrap(), &select(&[TENANT6, BPMN2])).unwrap();
            let want = |v: &str| if v.is_empty() { vec![] } else { vec![v.to_string()] };
            prop_assert_eq!(f.get(0).iter().map(|s| s.to_string()).collect::<Vec<_>>(), want(&tenant));
            prop_assert_eq!(f.get(1).iter().map(|s| s.to_string()).collect::<Vec<_>>(), want(&bpmn));
        }

        /// `last_varint` never panics, and wherever prost decodes an ActivateJobsRequest it
        /// finds the same `tenantFilter` (prost, like protobuf-java, keeps the low 32 bits of
        /// the last occurrence).
        #[test]
        fn tenant_filter_agrees_with_prost(
            parts in proptest::collection::vec(
                prop_oneof![
                    any::<i32>().prop_map(|f| proto::ActivateJobsRequest { tenant_filter: f, ..Default::default() }.encode_to_vec()),
                    "[a-z]{0,8}".prop_map(|t| proto::ActivateJobsRequest { r#type: t, tenant_ids: vec!["a".into()], ..Default::default() }.encode_to_vec()),
                    any::<u64>().prop_map(|v| { let mut b = vec![8 << 3]; prost::encoding::encode_varint(v, &mut b); b }),
                    proptest::collection::vec(any::<u8>(), 0..6),
                ],
                0..5,
            )
        ) {
            let message = parts.concat();
            let ours = last_varint(&message, 8);
            if let (Ok(theirs), Ok(ours)) = (proto::ActivateJobsRequest::decode(&message[..]), &ours) {
                let low = ours.map_or(0, |v| v as u32 as i32);
                prop_assert_eq!(low, theirs.tenant_filter);
            }
        }
    }
}
