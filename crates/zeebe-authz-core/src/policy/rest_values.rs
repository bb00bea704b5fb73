//! The condition values of a REST request: the members its route names, read from the JSON
//! body ([`crate::json`]) or the `multipart/form-data` parts ([`crate::multipart`]) as the
//! gateway reads them, and the choice between a route's two rpcs. Whatever cannot be read for
//! sure is an error with its reason (the Check denies), never a guess.

use std::borrow::Cow;

use super::camunda::{ResourceId, Row};
use super::condition::ConditionKind;
use crate::body::{BodyError, RequestBody};
use crate::catalog::{MemberSource, RestRoute, RouteMember, RpcSet};
use crate::json::{self, Query, Value};
use crate::multipart;

/// The body as JSON text, when the route reads JSON members; `None` when it reads parts (or
/// nothing). Spring takes `application/json` and `application/*+json`; with no charset or a
/// Unicode one, Jackson detects the encoding from the bytes; any other charset is decoded by
/// a `Reader` of that charset, which is not read here.
pub(crate) fn json_text<'b>(
    route: &RestRoute,
    body: &RequestBody<'b>,
) -> Result<Option<Cow<'b, str>>, BodyError> {
    if !route.members.iter().any(|m| m.source != MemberSource::Part) {
        return Ok(None);
    }
    if body.partial {
        return Err(BodyError::Partial);
    }
    if body.raw.is_empty() {
        return Err(BodyError::Missing);
    }
    let ct = body.content_type.unwrap_or("");
    let mut params = ct.split(';');
    // Compared without case, in place (no lower-cased copy per request).
    let media = params.next().unwrap_or("").trim().as_bytes();
    const APPLICATION: &[u8] = b"application/";
    const JSON: &[u8] = b"+json";
    let json_media = media.eq_ignore_ascii_case(b"application/json")
        || (media.len() >= APPLICATION.len() + JSON.len()
            && media[..APPLICATION.len()].eq_ignore_ascii_case(APPLICATION)
            && media[media.len() - JSON.len()..].eq_ignore_ascii_case(JSON));
    let charset_ok = params.all(|p| match p.split_once('=') {
        Some((k, v)) if k.trim().eq_ignore_ascii_case("charset") => {
            let v = v.trim().trim_matches('"');
            [
                "UTF-8", "UTF-16", "UTF-16BE", "UTF-16LE", "UTF-32", "UTF-32BE", "UTF-32LE",
            ]
            .iter()
            .any(|c| c.eq_ignore_ascii_case(v))
        }
        _ => true,
    });
    if !json_media || !charset_ok {
        return Err(BodyError::ContentType(crate::text::clip(
            ct,
            64,
            crate::text::Keep::Text,
        )));
    }
    Ok(Some(json::decode(body.raw)?))
}

/// The values of the `needed` kinds, by [`ConditionKind::index`]: text members as one value
/// (none when absent or `null`: the default tenant, for a tenant), arrays as their elements.
pub(crate) fn read<'t>(
    route: &'static RestRoute,
    query: &str,
    text: Option<&'t str>,
    body: &RequestBody<'t>,
    needed: &[ConditionKind],
) -> Result<[Vec<Cow<'t, str>>; ConditionKind::COUNT], BodyError> {
    let mut out: [Vec<Cow<'t, str>>; ConditionKind::COUNT] = Default::default();
    // The members of the needed kinds, and the JSON ones' queries: on the stack, at most one
    // per kind (no lists per Check).
    let mut members: [Option<(ConditionKind, &RouteMember)>; ConditionKind::COUNT] =
        [None; ConditionKind::COUNT];
    for (slot, &k) in members.iter_mut().zip(needed) {
        let m = route
            .members
            .iter()
            .find(|m| m.kind == k.key())
            // A twin that lacks a kind its rpc carries would let the condition pass on
            // nothing: refused (the catalog's tests hold twins to their rpcs).
            .ok_or(BodyError::Member {
                member: k.key(),
                what: "not carried by this REST endpoint",
            })?;
        *slot = Some((k, m));
    }
    let members = members.iter().flatten();
    let mut json_members = [None; ConditionKind::COUNT];
    let mut queries = [Query {
        outer: None,
        name: "",
    }; ConditionKind::COUNT];
    let mut count = 0;
    for &(kind, m) in members
        .clone()
        .filter(|(_, m)| m.source != MemberSource::Part)
    {
        json_members[count] = Some((kind, m));
        queries[count] = Query {
            outer: m.outer,
            name: m.name,
        };
        count += 1;
    }
    if let (Some(text), true) = (text, count > 0) {
        let values = json::read_members(text, &queries[..count])?;
        for (&(kind, m), v) in json_members.iter().flatten().zip(values) {
            out[kind.index()] = match m.source {
                MemberSource::JsonArray => v.as_texts(),
                _ => v.as_text().map(|t| t.into_iter().collect()),
            }
            .map_err(|what| BodyError::Member {
                member: m.name,
                what,
            })?;
        }
    }
    for (kind, m) in members.filter(|(_, m)| m.source == MemberSource::Part) {
        // A `@RequestParam` would also take the query string's value: never guessed.
        if query.split('&').any(|p| {
            let name = p.split_once('=').map_or(p, |(n, _)| n);
            name == m.name || name.contains('%')
        }) {
            return Err(BodyError::Query(m.name));
        }
        if body.partial {
            return Err(BodyError::Partial);
        }
        let ct = body.content_type.unwrap_or("");
        let part = multipart::read_part(body.raw, ct, m.name)?;
        out[kind.index()] = part.map(Cow::Borrowed).into_iter().collect();
    }
    Ok(out)
}

/// Whether a route's `tenant_filter` member (ActivateJobs' `tenantFilter`, Camunda 8.9+) keeps
/// the tenants the body lists: absent, `null` or `"PROVIDED"`. `"ASSIGNED"` makes the gateway
/// ignore them and take the principal's assigned tenants, which no tenant condition has seen,
/// and so does any other value (an enum's ordinal, another case) the gateway might map to it.
pub(crate) fn tenant_filter_is_provided(route: &RestRoute, text: &str) -> Result<bool, BodyError> {
    let Some(m) = route.members.iter().find(|m| m.kind == "tenant_filter") else {
        return Ok(true);
    };
    let query = [Query {
        outer: m.outer,
        name: m.name,
    }];
    Ok(match json::read_members(text, &query)?.as_slice() {
        [Value::Absent | Value::Null] => true,
        [Value::Str(s)] => s == "PROVIDED",
        _ => false,
    })
}

/// Which of a two-rpc route's operations the body asks for. One `select` member (a boolean,
/// `awaitCompletion`): absent, `null` or `false` the first rpc, `true` the second; anything
/// else is refused (a text or number the gateway might coerce). Two (`changeset.retries`,
/// `changeset.timeout`): each present, non-null member selects its rpc; neither selects both.
pub(crate) fn select(
    route: &'static RestRoute,
    body: &RequestBody<'_>,
) -> Result<RpcSet, BodyError> {
    let selectors: Vec<&RouteMember> = route
        .members
        .iter()
        .filter(|m| m.kind == "select")
        .collect();
    let text = json_text(route, body)?.ok_or(BodyError::Missing)?;
    let queries: Vec<Query<'_>> = selectors
        .iter()
        .map(|m| Query {
            outer: m.outer,
            name: m.name,
        })
        .collect();
    let values = json::read_members(&text, &queries)?;
    let ops = route.operations;
    if let [only] = values.as_slice() {
        return match only {
            Value::Absent | Value::Null | Value::Bool(false) => Ok(RpcSet::EMPTY.with(ops[0])),
            Value::Bool(true) => Ok(RpcSet::EMPTY.with(ops[1])),
            _ => Err(BodyError::Member {
                member: selectors[0].name,
                what: "not true, false or null",
            }),
        };
    }
    let chosen: RpcSet = values
        .iter()
        .zip(ops)
        .filter(|(v, _)| !matches!(v, Value::Absent | Value::Null))
        .map(|(_, r)| *r)
        .collect();
    Ok(if chosen.is_empty() {
        ops.iter().copied().collect()
    } else {
        chosen
    })
}

/// The resource id a REST request names for `row` (the engine-worded deny quotes it): its path
/// variable ([`ResourceId::Path`]), or the route's body member of the row's id kind
/// ([`ResourceId::Field`]: a twin's `processDefinitionId`, a correlation's `name`), clipped
/// for display. `None` when the row compares no id or the value cannot be read for sure.
pub(crate) fn engine_id(
    row: &Row,
    route: &'static RestRoute,
    path: &str,
    body: &RequestBody<'_>,
) -> Option<String> {
    let shown = |v: &str| Some(crate::text::clip(v, 64, crate::text::Keep::Text));
    match row.id {
        ResourceId::Path(var) => shown(crate::rest::path_variable(route, path, var)?),
        ResourceId::Field => {
            let kind = super::camunda::id_kind(row.resource)?;
            if !route.members.iter().any(|m| m.kind == kind.key()) || body.partial {
                return None;
            }
            let text = json_text(route, body).ok()?;
            let query = crate::rest::query_of(path);
            let values = read(route, query, text.as_deref(), body, &[kind]).ok()?;
            shown(values[kind.index()].last()?)
        }
        ResourceId::Resolved | ResourceId::WildcardOnly => None,
    }
    .filter(|v| !v.is_empty())
}

/// Whether the engine-worded deny of REST-only `rpc` names a body member (CorrelateMessage's
/// `name`): its body is then read on a deny.
pub(crate) fn engine_id_member(rpc: crate::catalog::Rpc) -> bool {
    let row = super::camunda::message_row(rpc);
    !rpc.is_grpc()
        && row.id == super::camunda::ResourceId::Field
        && super::camunda::id_kind(row.resource).is_some_and(|k| {
            super::condition::field_source(rpc, k) == Some(super::condition::FieldSource::Rest)
        })
}
