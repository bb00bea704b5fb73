//! The `body` target: unframe and read_fields against the gateway's reading.

use super::*;

/// Where each condition kind sits in each rpc's request, written out from
/// `proto/gateway.proto` (not read from the catalog; the replay test compares the two):
/// (rpc, kind, enclosing field, field number, repeated).
#[rustfmt::skip]
pub const FIELDS: &[(&str, ConditionKind, Option<u32>, u32, bool)] = &[
    ("ActivateJobs",                    ConditionKind::JobType,       None,    1, false),
    ("ActivateJobs",                    ConditionKind::Tenant,        None,    7, true),
    ("StreamActivatedJobs",             ConditionKind::JobType,       None,    1, false),
    ("StreamActivatedJobs",             ConditionKind::Tenant,        None,    6, true),
    ("CreateProcessInstance",           ConditionKind::BpmnProcessId, None,    2, false),
    ("CreateProcessInstance",           ConditionKind::Tenant,        None,    6, false),
    ("CreateProcessInstanceWithResult", ConditionKind::BpmnProcessId, Some(1), 2, false),
    ("CreateProcessInstanceWithResult", ConditionKind::Tenant,        Some(1), 6, false),
    ("EvaluateDecision",                ConditionKind::DecisionId,    None,    2, false),
    ("EvaluateDecision",                ConditionKind::Tenant,        None,    4, false),
    ("DeployResource",                  ConditionKind::Tenant,        None,    2, false),
    ("PublishMessage",                  ConditionKind::MessageName,   None,    1, false),
    ("PublishMessage",                  ConditionKind::Tenant,        None,    6, false),
    ("BroadcastSignal",                 ConditionKind::SignalName,    None,    1, false),
    ("BroadcastSignal",                 ConditionKind::Tenant,        None,    3, false),
    ("EvaluateConditional",             ConditionKind::Tenant,        None,    1, false),
];

/// Where [`FIELDS`] and the catalog's [`field_source`] disagree (empty when they agree).
pub fn fields_disagreeing_with_the_catalog() -> Vec<String> {
    let mut found = Vec::new();
    for rpc in Rpc::all() {
        for kind in ConditionKind::ALL {
            let written = FIELDS
                .iter()
                .find(|f| f.0 == rpc.name() && f.1 == kind)
                .map(|&(_, _, outer, number, repeated)| {
                    FieldSource::Body(FieldPath {
                        outer,
                        number,
                        repeated,
                    })
                });
            let written = match (rpc.name(), kind) {
                ("DeployProcess", ConditionKind::Tenant) => Some(FieldSource::DefaultTenant),
                _ => written,
            };
            let catalog = field_source(rpc, kind);
            if catalog != written {
                found.push(format!(
                    "{rpc} {kind:?}: catalog {catalog:?}, proto {written:?}"
                ));
            }
        }
    }
    found
}

/// One rpc's field plan as the policy compiler builds it when every condition kind is used
/// (the kinds in [`ConditionKind::ALL`] order), and a plan of each field alone.
pub(crate) struct RpcPlans {
    rpc: Rpc,
    all: FieldSelection,
    fields: Vec<(ConditionKind, FieldPath, usize, FieldSelection)>,
}

pub(crate) fn rpc_plans() -> &'static [RpcPlans] {
    static PLANS: OnceLock<Vec<RpcPlans>> = OnceLock::new();
    PLANS.get_or_init(|| {
        Rpc::all()
            .map(|rpc| {
                let mut all = FieldSelection::default();
                let mut fields = Vec::new();
                for kind in ConditionKind::ALL {
                    if let Some(FieldSource::Body(path)) = field_source(rpc, kind) {
                        let slot = all.add(path);
                        let mut alone = FieldSelection::default();
                        alone.add(path);
                        fields.push((kind, path, slot, alone));
                    }
                }
                RpcPlans { rpc, all, fields }
            })
            .collect()
    })
}

/// The input as a gRPC body (plain and gzip) and as a bare protobuf message, read with every
/// rpc's field plan.
pub fn body(data: &[u8]) {
    let mut scratch = Vec::new();
    for encoding in [None, Some("gzip")] {
        let Ok(message) = body::unframe(data, encoding, &mut scratch) else {
            continue;
        };
        let announced = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
        assert_eq!(
            announced,
            data.len() - 5,
            "unframe accepted a frame of the wrong length"
        );
        match data[0] {
            0 => assert_eq!(message, &data[5..], "a plain frame's message"),
            _ => match inflate_all(&data[5..]) {
                Ok(whole) => assert!(
                    whole == message,
                    "unframe inflated {} bytes, the gateway (every gzip member) {}",
                    message.len(),
                    whole.len()
                ),
                Err(e) => panic!(
                    "unframe inflated {} bytes of a gzip body the gateway cannot read whole ({e})",
                    message.len()
                ),
            },
        }
        check_message(message);
    }
    if data.len() >= 5 && data[0] == 0 {
        let announced = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
        if announced == data.len() - 5 {
            let read = body::unframe(data, None, &mut scratch);
            assert_eq!(
                read,
                Ok(&data[5..]),
                "a well-formed plain frame was refused"
            );
        }
    }
    check_message(data);
}

/// Reads `message` with every rpc's plans; where the authorizer reads it, the gateway must read
/// the same values.
pub(crate) fn check_message(message: &[u8]) {
    for plans in rpc_plans() {
        let name = plans.rpc.name();
        let Ok(read) = body::read_fields(message, &plans.all) else {
            continue;
        };
        for (kind, path, slot, alone) in &plans.fields {
            let single = body::read_fields(message, alone).unwrap_or_else(|e| {
                panic!("{name}: reading {kind:?} alone fails ({e}), reading all fields does not")
            });
            assert_eq!(
                single.get(0),
                read.get(*slot),
                "{name} {kind:?} alone vs all"
            );
            if !path.repeated {
                assert!(
                    read.get(*slot).len() <= 1,
                    "{name} {kind:?}: singular, many values"
                );
            }
        }
        let prost = prost_fields(name, message);
        let java = java_fields(name, message);
        for (gateway, seen) in [("prost", &prost), ("protobuf-java model", &java)] {
            let Some(seen) = seen else { continue };
            for (kind, value) in seen {
                let Some((_, _, slot, _)) = plans.fields.iter().find(|f| f.0 == *kind) else {
                    panic!("{name}: the catalog has no {kind:?} field, the proto has");
                };
                let authorizer = read.get(*slot);
                let same = match value {
                    Seen::One(v) => authorizer.first().copied().unwrap_or("") == v.as_str(),
                    Seen::Many(v) => authorizer == v.as_slice(),
                };
                assert!(
                    same,
                    "{name} {kind:?}: the authorizer reads {authorizer:?}, the gateway ({gateway}) {value:?}"
                );
            }
        }
        if let (Some(p), Some(j)) = (&prost, &java) {
            assert_eq!(p, j, "{name}: prost and the protobuf-java model disagree");
        }
    }
}

/// A request field as the gateway sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seen {
    /// A singular string (empty when absent).
    One(String),
    /// A repeated string.
    Many(Vec<String>),
}

/// The condition fields of `rpc`'s request decoded by prost, or `None` when prost refuses it.
pub(crate) fn prost_fields(rpc: &str, m: &[u8]) -> Option<Vec<(ConditionKind, Seen)>> {
    use ConditionKind::*;
    use Seen::{Many, One};
    Some(match rpc {
        "ActivateJobs" => {
            let r = proto::ActivateJobsRequest::decode(m).ok()?;
            vec![(JobType, One(r.r#type)), (Tenant, Many(r.tenant_ids))]
        }
        "StreamActivatedJobs" => {
            let r = proto::StreamActivatedJobsRequest::decode(m).ok()?;
            vec![(JobType, One(r.r#type)), (Tenant, Many(r.tenant_ids))]
        }
        "CreateProcessInstance" => {
            let r = proto::CreateProcessInstanceRequest::decode(m).ok()?;
            vec![
                (BpmnProcessId, One(r.bpmn_process_id)),
                (Tenant, One(r.tenant_id)),
            ]
        }
        "CreateProcessInstanceWithResult" => {
            let r = proto::CreateProcessInstanceWithResultRequest::decode(m).ok()?;
            let inner = r.request.unwrap_or_default();
            vec![
                (BpmnProcessId, One(inner.bpmn_process_id)),
                (Tenant, One(inner.tenant_id)),
            ]
        }
        "EvaluateDecision" => {
            let r = proto::EvaluateDecisionRequest::decode(m).ok()?;
            vec![(DecisionId, One(r.decision_id)), (Tenant, One(r.tenant_id))]
        }
        "DeployResource" => {
            let r = proto::DeployResourceRequest::decode(m).ok()?;
            vec![(Tenant, One(r.tenant_id))]
        }
        "PublishMessage" => {
            let r = proto::PublishMessageRequest::decode(m).ok()?;
            vec![(MessageName, One(r.name)), (Tenant, One(r.tenant_id))]
        }
        "BroadcastSignal" => {
            let r = proto::BroadcastSignalRequest::decode(m).ok()?;
            vec![(SignalName, One(r.signal_name)), (Tenant, One(r.tenant_id))]
        }
        "EvaluateConditional" => {
            let r = proto::EvaluateConditionalRequest::decode(m).ok()?;
            vec![(Tenant, One(r.tenant_id))]
        }
        _ => Vec::new(),
    })
}

/// The condition fields of `rpc`'s request as protobuf-java's `CodedInputStream` reads them
/// (the Zeebe gateway is Java), or `None` when it would refuse the message. What matters for
/// a field's value is modelled: a tag is `readRawVarint32`, i.e. the **low 32 bits** of a
/// varint of up to 10 bytes; a length is the same, negative or past the end refused; the last
/// occurrence of a singular field wins; occurrences of the nested `request` merge; a wanted
/// string must be UTF-8. Groups are not modelled (`None`: `read_fields` refuses them anyway).
pub(crate) fn java_fields(rpc: &str, message: &[u8]) -> Option<Vec<(ConditionKind, Seen)>> {
    let wanted: Vec<_> = FIELDS.iter().filter(|f| f.0 == rpc).collect();
    let nested = wanted.iter().find_map(|f| f.2);
    let targets: Vec<(Option<u32>, u32)> = wanted.iter().map(|f| (f.2, f.3)).collect();
    let mut found = Vec::new();
    java_walk(message, None, nested, &targets, &mut found)?;
    Some(
        wanted
            .iter()
            .map(|&&(_, kind, outer, number, repeated)| {
                let mut values = found
                    .iter()
                    .filter(|(o, n, _)| *o == outer && *n == number)
                    .map(|(_, _, v)| v.clone());
                let seen = if repeated {
                    Seen::Many(values.collect())
                } else {
                    Seen::One(values.next_back().unwrap_or_default())
                };
                (kind, seen)
            })
            .collect(),
    )
}

pub(crate) fn java_walk(
    mut buf: &[u8],
    outer: Option<u32>,
    nested: Option<u32>,
    targets: &[(Option<u32>, u32)],
    found: &mut Vec<(Option<u32>, u32, String)>,
) -> Option<()> {
    while !buf.is_empty() {
        let tag = java_varint(&mut buf)? as u32;
        let number = tag >> 3;
        if number == 0 {
            return None;
        }
        match tag & 7 {
            0 => {
                java_varint(&mut buf)?;
            }
            1 => buf = buf.get(8..)?,
            5 => buf = buf.get(4..)?,
            2 => {
                let len = usize::try_from(java_varint(&mut buf)? as u32 as i32).ok()?;
                let value = buf.get(..len)?;
                buf = &buf[len..];
                if targets.contains(&(outer, number)) {
                    found.push((outer, number, String::from_utf8(value.to_vec()).ok()?));
                }
                if outer.is_none() && nested == Some(number) {
                    java_walk(value, Some(number), None, targets, found)?;
                }
            }
            _ => return None,
        }
    }
    Some(())
}

/// `readRawVarint64`: at most 10 bytes, bits beyond 64 dropped.
pub(crate) fn java_varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Some(value);
        }
    }
    None
}

/// Inflates every concatenated gzip member, as `GZIPInputStream` does, with the authorizer's
/// size bound.
pub(crate) fn inflate_all(compressed: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(compressed)
        .take(MAX_DECOMPRESSED_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    if out.len() > MAX_DECOMPRESSED_BYTES {
        return Err("larger than the bound".into());
    }
    Ok(out)
}

/// One gzip member of `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("writing to a Vec");
    e.finish().expect("writing to a Vec")
}

/// `payload` in one gRPC frame with the given compressed flag.
pub fn frame_flagged(flag: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = body::frame(payload);
    f[0] = flag;
    f
}
