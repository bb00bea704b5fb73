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
    let decoded = proto::CreateProcessInstanceWithResultRequest::decode(msg.as_slice()).unwrap();
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
        if let Ok(theirs) = proto::ActivateJobsRequest::decode(&message[..]) {
            match ours {
                Ok(ours) => {
                    let low = ours.map_or(0, |v| v as u32 as i32);
                    prop_assert_eq!(low, theirs.tenant_filter);
                }
                // prost skips an unknown group; the gateway protocol has none, so we refuse it.
                Err(e) => prop_assert_eq!(
                    e,
                    BodyError::Malformed("groups are not used by the gateway protocol")
                ),
            }
        }
    }
}
