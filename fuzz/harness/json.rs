//! The `json` target: the REST body reader (`zeebe_authz_core::json`) against a model of
//! Jackson's reading: serde_json's `Value`, whose objects keep the last of duplicate members
//! as Jackson's bean binding does. The input is the body's bytes, encoding detection included.

use serde_json::Value;
use zeebe_authz_core::json::{self as reader, JsonError, Query, Value as Member};

/// The members asked for: a text member, a list, and a member of a nested object.
const QUERIES: [Query<'static>; 3] = [
    Query {
        outer: None,
        name: "tenantId",
    },
    Query {
        outer: None,
        name: "tenantIds",
    },
    Query {
        outer: Some("changeset"),
        name: "retries",
    },
];

/// Reads `data` as a REST body and compares every member with the model. Panics when the
/// reader takes a body the model refuses, reads a value the model does not, or refuses a
/// body the model reads for a reason outside the reader's documented refusals.
pub fn json(data: &[u8]) {
    let Ok(text) = reader::decode(data) else {
        return;
    };
    // serde_json's `Value` treats a member named `$serde_json::private::RawValue` as its own
    // raw-value token (and then refuses `null`): the model's quirk, not JSON's, and no member
    // a condition reads. Regression `serde-json-raw-value-token-is-the-models-quirk`.
    if text.contains("$serde_json::private::") {
        return;
    }
    let ours = reader::read_members(&text, &QUERIES);
    let model = serde_json::from_str::<Value>(&text);
    match (ours, model) {
        (Ok(values), Ok(root)) => {
            for (q, v) in QUERIES.iter().zip(&values) {
                let m = model_member(&root, q);
                assert!(agrees(v, &m), "{q:?}: reader {v:?}, model {m} in {text:?}");
            }
        }
        (Ok(values), Err(e)) => {
            // Where the model is narrower than Jackson: serde_json stops at 128 levels (the
            // reader, as Jackson, at 1000), and refuses a number beyond an f64's range, which
            // Jackson keeps as its text until asked for a number (a text member binds the
            // text: regression `number-beyond-f64-is-text-to-jackson`).
            let e = e.to_string();
            assert!(
                e.contains("recursion limit") || e.contains("number out of range"),
                "reader took what the model refuses ({e}): {values:?} in {text:?}"
            );
        }
        (Err(e), Ok(root)) => {
            let documented = match &e {
                JsonError::NotAnObject | JsonError::TooDeep => true,
                // Any occurrence of `changeset` that is no object fails Jackson's binding,
                // even when a later one is an object (the model keeps only the last).
                JsonError::Syntax { what, .. } => {
                    what.starts_with("number longer")
                        || (what.contains("where an object is expected")
                            && root.get("changeset").is_some())
                }
                _ => false,
            };
            assert!(
                documented,
                "reader refused ({e}) what the model reads: {text:?}"
            );
        }
        (Err(_), Err(_)) => {}
    }
    // The bindings never panic, whatever the values.
    if let Ok(values) = reader::read_members(&text, &QUERIES) {
        for v in &values {
            let _ = v.as_text();
            let _ = v.as_texts();
        }
    }
}

/// The model's member: `Null` when absent (or its object is absent or `null`).
fn model_member(root: &Value, q: &Query<'_>) -> Value {
    let holder = match q.outer {
        None => Some(root),
        Some(o) => root.get(o).filter(|v| v.is_object()),
    };
    holder
        .and_then(|h| h.get(q.name))
        .cloned()
        .unwrap_or(Value::Null)
}

fn agrees(ours: &Member<'_>, theirs: &Value) -> bool {
    match (ours, theirs) {
        (Member::Absent | Member::Null, Value::Null) => true,
        (Member::Str(a), Value::String(b)) => a == b,
        (Member::Bool(a), Value::Bool(b)) => a == b,
        (Member::Num(a), Value::Number(b)) => {
            serde_json::from_str::<serde_json::Number>(a).is_ok_and(|n| n == *b)
        }
        (Member::Array(a), Value::Array(b)) => {
            a.len() == b.len()
                && a.iter().zip(b).all(|(x, y)| match (x, y) {
                    (Member::Object, Value::Array(_) | Value::Object(_)) => true,
                    _ => agrees(x, y),
                })
        }
        (Member::Object, Value::Object(_)) => true,
        _ => false,
    }
}
