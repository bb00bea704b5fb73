//! `--request`: a gateway request message written as JSON with the proto's field names
//! (`{"bpmnProcessId": "order", "tenantId": "tenant-b"}`), encoded to the protobuf bytes a
//! client would send, from the rpc catalog. The decision then reads them with the same body
//! reader `serve` uses.

use serde_json::Value;

use zeebe_authz_core::catalog::{FieldKind, MESSAGES, MessageDesc, Rpc};

/// Encodes `json` as `rpc`'s request message; an error names the field that does not fit.
pub(crate) fn encode_request(rpc: Rpc, json: &Value) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    encode_message(rpc.desc().request_message(), json, "", &mut out)?;
    Ok(out)
}

fn encode_message(
    message: &MessageDesc,
    json: &Value,
    at: &str,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let Value::Object(fields) = json else {
        return Err(format!("{}: expected a JSON object", shown(at)));
    };
    for (name, value) in fields {
        let path = if at.is_empty() {
            name.clone()
        } else {
            format!("{at}.{name}")
        };
        let Some(field) = message.field(name) else {
            let known: Vec<&str> = message.fields.iter().map(|f| f.name).collect();
            return Err(format!(
                "{path}: no such field (fields: {})",
                known.join(", ")
            ));
        };
        let values: Vec<&Value> = match (field.repeated, value) {
            (true, Value::Array(items)) => items.iter().collect(),
            (true, _) => return Err(format!("{path}: a repeated field takes a JSON array")),
            (false, Value::Null) => continue,
            (false, v) => vec![v],
        };
        for v in values {
            encode_field(field.number, field.kind, v, &path, out)?;
        }
    }
    Ok(())
}

fn encode_field(
    number: u32,
    kind: FieldKind,
    value: &Value,
    path: &str,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    match kind {
        FieldKind::String | FieldKind::Bytes => {
            let Value::String(s) = value else {
                return Err(format!("{path}: expected a string"));
            };
            length_delimited(number, s.as_bytes(), out);
        }
        FieldKind::Varint => {
            let n = match value {
                Value::Bool(b) => u64::from(*b),
                // Negative int32/int64 are sent as their 64-bit two's complement.
                Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                    (Some(u), _) => u,
                    (None, Some(i)) => i as u64,
                    _ => return Err(format!("{path}: expected an integer")),
                },
                _ => return Err(format!("{path}: expected an integer or a boolean")),
            };
            varint(u64::from(number) << 3, out);
            varint(n, out);
        }
        FieldKind::Message(index) => {
            let mut inner = Vec::new();
            encode_message(&MESSAGES[index], value, path, &mut inner)?;
            length_delimited(number, &inner, out);
        }
    }
    Ok(())
}

fn length_delimited(number: u32, bytes: &[u8], out: &mut Vec<u8>) {
    varint(u64::from(number) << 3 | 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn shown(at: &str) -> &str {
    if at.is_empty() { "the request" } else { at }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;
    use zeebe_authz_core::proto::{
        CreateProcessInstanceRequest, CreateProcessInstanceWithResultRequest,
    };

    #[test]
    fn json_requests_encode_as_the_generated_types_do() {
        let rpc = Rpc::from_name("CreateProcessInstance").unwrap();
        let bytes = encode_request(
            rpc,
            &serde_json::json!({"bpmnProcessId": "order", "version": -1, "tenantId": "tenant-b"}),
        )
        .unwrap();
        let decoded = CreateProcessInstanceRequest::decode(&bytes[..]).unwrap();
        assert_eq!(decoded.bpmn_process_id, "order");
        assert_eq!(decoded.version, -1);
        assert_eq!(decoded.tenant_id, "tenant-b");

        let rpc = Rpc::from_name("CreateProcessInstanceWithResult").unwrap();
        let bytes = encode_request(
            rpc,
            &serde_json::json!({"request": {"bpmnProcessId": "order", "tenantId": "t"}}),
        )
        .unwrap();
        let decoded = CreateProcessInstanceWithResultRequest::decode(&bytes[..]).unwrap();
        assert_eq!(decoded.request.unwrap().tenant_id, "t");
    }

    #[test]
    fn fields_that_do_not_fit_are_named() {
        let rpc = Rpc::from_name("ActivateJobs").unwrap();
        for (json, error) in [
            (serde_json::json!({"typ": "x"}), "typ: no such field"),
            (serde_json::json!({"type": 3}), "type: expected a string"),
            (
                serde_json::json!({"tenantIds": "a"}),
                "tenantIds: a repeated field",
            ),
            (serde_json::json!([]), "the request: expected a JSON object"),
        ] {
            let e = encode_request(rpc, &json).unwrap_err();
            assert!(e.starts_with(error), "{e}");
        }
    }
}
