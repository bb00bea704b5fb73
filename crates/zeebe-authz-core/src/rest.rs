//! The REST door's paths, read as the gateway routes them: which route of the catalog a
//! request's method and `:path` reach, or why no decision may be taken on it.
//!
//! The gateway is a Spring Boot 3 application (Spring MVC 6 behind Tomcat, with Spring
//! Security in front). Spring MVC 6 matches a request with `PathPatternParser` patterns against
//! `RequestPath.pathWithinApplication()` (spring-framework `web/util/pattern/PathPattern.java`,
//! `http/server/PathContainer.java`, `DefaultPathContainer.java`): each path segment is
//! matched by its `valueToMatch`, which is the segment **percent-decoded with its `;` matrix
//! parameters cut off**; patterns are case-sensitive; `matchOptionalTrailingSeparator` is off
//! by default since 6.0, so `/topology/` is no route; a `{variable}` captures one non-empty
//! decoded segment. So `/v2/jobs;x=1/activation` and `/v2/jobs/activ%61tion` reach
//! ActivateJobs there, whatever a plain reading of the text says; Tomcat also resolves `.`
//! and `..` segments and merges `//` in the decoded URI it maps the context path with, and
//! Spring Security's `StrictHttpFirewall` refuses most of these spellings outright (in the
//! gateway's chain, not something to rely on).
//!
//! The rule here: a path is judged as a route only when it is **plain**, every segment of
//! unreserved characters (and the sub-delimiters and `:`/`@` a username or id may hold),
//! with no `%`, `;`, `\`, empty, `.` or `..` segment; then the plain reading *is* Spring's
//! reading, segment for segment. A path that is not plain but could reach the REST API (it
//! holds any of those, or starts with the base path in another case) is refused as
//! unroutable, whatever the policy says of other paths: it cannot be proved to reach the
//! operation it appears to, nor proved not to. The query string never takes part in routing.
//!
//! Path variables are checked as the controllers bind them: a `…Key` variable is a Java
//! `long` (`@PathVariable long jobKey`; Spring converts with `NumberUtils.parseNumber`, which
//! also takes hex `0x…` and `#…`): only decimal digits that fit an `i64` are taken.
//! `HEAD` runs the `GET` handler in Spring MVC, so it is judged as that operation.
//!
//! A plain path is looked up in an index of the table by method and first segment, built once
//! (`RouteIndex`): only the few routes that can fit are matched, with no allocation per
//! request; the rule of the pick is Spring's as above (the tests hold the index to a scan of the
//! whole table).

use crate::catalog::{REST_ROUTES, RestRoute, Segment};

/// Through which door a request came, as the policy reads its body.
#[derive(Debug, Clone, Copy)]
pub enum Door<'a> {
    /// A gRPC call: one protobuf message in a gRPC frame.
    Grpc,
    /// A REST request to `route`, with its path as sent (the query string included).
    Rest {
        /// The route.
        route: &'static RestRoute,
        /// The request path (`/v2/users/alice?x=1`).
        path: &'a str,
    },
}

/// The value of `route`'s path variable `name` in `path` (a path [`parse_rest_path`] matched
/// to `route`: its last segments are the template's, plain, so taken as they are), or `None`
/// when the route has no such variable or the path does not fit it.
pub fn path_variable<'p>(route: &RestRoute, path: &'p str, name: &str) -> Option<&'p str> {
    let path = path_of(path);
    let segments: Vec<&str> = path.split('/').collect();
    let skip = segments.len().checked_sub(route.segments.len())?;
    route
        .segments
        .iter()
        .zip(&segments[skip..])
        .find_map(|(template, value)| match template {
            Segment::Long(n) | Segment::Text(n) if *n == name => Some(*value),
            _ => None,
        })
        .filter(|v| !v.is_empty())
}

/// The query string of a path (empty when it has none).
pub fn query_of(path: &str) -> &str {
    path.split_once('?').map_or("", |(_, q)| q)
}

/// The path of an Envoy `:path` without its query string.
pub fn path_of(path: &str) -> &str {
    path.split_once('?').map_or(path, |(p, _)| p)
}

/// The base path of the REST API when the gateway has no context path.
pub const DEFAULT_BASE_PATH: &str = "/v2";

/// What a request path means at the REST door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestTarget {
    /// A route of the catalog.
    Route(&'static RestRoute),
    /// A plain path under the base path that no route of the catalog has (for this method):
    /// an endpoint the table does not know, a typo, or a newer gateway's endpoint.
    Unknown,
    /// A path the gateway may route otherwise than it reads (matrix parameters, percent
    /// encoding, a trailing slash, `//`, dot segments, case): the reason.
    Unroutable(&'static str),
}

/// Whether `path` is a REST request under `base` (or may be read as one by the gateway), and
/// if so what it reaches with `method`. `None`: not the REST door's (a gRPC path, or another
/// plain path the gateway does not route to the REST API).
pub fn parse_rest_path(base: &str, method: &str, path: &str) -> Option<RestTarget> {
    let path = path_of(path);
    let Some(rest) = path
        .strip_prefix(base)
        .and_then(|r| r.strip_prefix('/'))
        .filter(|_| !base.is_empty())
    else {
        return suspicious(base, path).map(RestTarget::Unroutable);
    };
    if let Some(reason) = unplain(rest) {
        return Some(RestTarget::Unroutable(reason));
    }
    Some(find_route(method, rest))
}

/// The route of the plain path `rest` (below the base path) for `method`, as Spring MVC picks
/// it: among the templates that fit, the one with the fewest variables; two such are a tie.
fn find_route(method: &str, rest: &str) -> RestTarget {
    let Some(candidates) = RouteIndex::get().candidates(method, rest) else {
        return RestTarget::Unknown;
    };
    let count = rest.split('/').count();
    let mut best: Option<(&'static RestRoute, usize)> = None;
    let mut tie = false;
    for route in candidates {
        if route.segments.len() != count {
            continue;
        }
        if let Some(vars) = matches(route, rest.split('/')) {
            match best {
                Some((_, b)) if b < vars => {}
                Some((_, b)) if b == vars => tie = true,
                _ => {
                    best = Some((route, vars));
                    tie = false;
                }
            }
        }
    }
    match best {
        // Spring would refuse an ambiguous mapping at startup; the table is checked for none.
        Some(_) if tie => RestTarget::Unroutable("two routes match the path equally"),
        Some((route, _)) => RestTarget::Route(route),
        None => RestTarget::Unknown,
    }
}

/// The methods the catalog's routes have, each with its slot in [`RouteIndex`]; `HEAD` runs
/// the `GET` handler.
fn method_slot(method: &str) -> Option<usize> {
    Some(match method {
        "GET" | "HEAD" => 0,
        "POST" => 1,
        "PUT" => 2,
        "PATCH" => 3,
        "DELETE" => 4,
        _ => return None,
    })
}

/// The catalog's routes by method and first segment, built once (on the first REST request):
/// a request is matched against the few routes that can fit it rather than the whole table,
/// with no allocation. A route whose first segment is a variable (none today) is a candidate
/// for every first segment.
struct RouteIndex {
    /// Per method slot: each first literal with its routes, sorted by literal.
    by_first: [Vec<(&'static str, Vec<&'static RestRoute>)>; 5],
    /// Per method slot: the routes whose first segment is a variable.
    any_first: [Vec<&'static RestRoute>; 5],
}

impl RouteIndex {
    fn get() -> &'static RouteIndex {
        static INDEX: std::sync::LazyLock<RouteIndex> =
            std::sync::LazyLock::new(|| RouteIndex::of(REST_ROUTES));
        &INDEX
    }

    fn of(routes: &'static [RestRoute]) -> RouteIndex {
        let mut index = RouteIndex {
            by_first: Default::default(),
            any_first: Default::default(),
        };
        for route in routes {
            // The catalog's build refuses any other method.
            let Some(slot) = method_slot(route.method) else {
                continue;
            };
            match route.segments.first() {
                Some(Segment::Literal(first)) => {
                    let list = &mut index.by_first[slot];
                    match list.binary_search_by(|(l, _)| l.cmp(first)) {
                        Ok(i) => list[i].1.push(route),
                        Err(i) => list.insert(i, (first, vec![route])),
                    }
                }
                _ => index.any_first[slot].push(route),
            }
        }
        index
    }

    /// The routes that may fit `rest` with `method`; `None` when no route has the method.
    fn candidates(
        &self,
        method: &str,
        rest: &str,
    ) -> Option<impl Iterator<Item = &'static RestRoute> + '_> {
        let slot = method_slot(method)?;
        let first = rest.split_once('/').map_or(rest, |(f, _)| f);
        let literal = self.by_first[slot]
            .binary_search_by(|(l, _)| (*l).cmp(first))
            .map_or(&[][..], |i| &self.by_first[slot][i].1[..]);
        Some(literal.iter().chain(&self.any_first[slot]).copied())
    }
}

/// Whether `segments` fit `route`'s template (as many of them as it has); the number of
/// variables it took (Spring prefers the pattern with fewer captures: a literal
/// `/groups/search` over `/groups/{groupId}`).
fn matches<'s>(route: &RestRoute, segments: impl IntoIterator<Item = &'s str>) -> Option<usize> {
    let mut vars = 0;
    let mut segments = segments.into_iter();
    for template in route.segments {
        let seg = segments.next()?;
        match template {
            Segment::Literal(lit) => {
                if *lit != seg {
                    return None;
                }
            }
            Segment::Long(_) => {
                if !is_java_long(seg) {
                    return None;
                }
                vars += 1;
            }
            Segment::Text(_) => vars += 1,
        }
    }
    segments.next().is_none().then_some(vars)
}

/// Whether the gateway binds `text` to a `long` as its decimal value: 1 to 19 ASCII digits
/// within `i64` (`Long.valueOf` refuses more; a sign, hex or white space is not taken).
fn is_java_long(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && text.parse::<i64>().is_ok()
}

/// Why the path below the base is not plain, if it is not.
fn unplain(rest: &str) -> Option<&'static str> {
    for seg in rest.split('/') {
        if seg.is_empty() {
            return Some("an empty path segment (a trailing slash or //)");
        }
        if seg == "." || seg == ".." {
            return Some("a dot segment");
        }
        for b in seg.bytes() {
            match b {
                b';' => return Some("matrix parameters (;) in the path"),
                b'%' => return Some("percent-encoding in the path"),
                b if is_plain(b) => {}
                _ => return Some("a character the gateway may read otherwise"),
            }
        }
    }
    None
}

/// Unreserved characters (RFC 3986), the sub-delimiters but `;`, `:` and `@`.
fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b'='
                | b':'
                | b'@'
        )
}

/// Why a path that does not start with `base/` may still reach the REST API, if it may: a
/// spelling Tomcat or Spring normalizes (`;`, `%`, `\`, `//`, dot segments), or the base in
/// another case or without its slash (`/V2/…`, `/v2`).
fn suspicious(base: &str, path: &str) -> Option<&'static str> {
    if path.starts_with(crate::catalog::GATEWAY_PATH_PREFIX) {
        // gRPC: judged by `catalog::parse_path` (grpc-java routes on the exact text).
        return None;
    }
    if path.contains(';') {
        return Some("matrix parameters (;) in the path");
    }
    if path.contains('%') {
        return Some("percent-encoding in the path");
    }
    if path.contains('\\') || path.contains("//") {
        return Some("a path Tomcat normalizes (\\ or //)");
    }
    if path.split('/').any(|s| s == "." || s == "..") {
        return Some("a dot segment");
    }
    let lower = path.to_ascii_lowercase();
    let base_lower = base.to_ascii_lowercase();
    if !base.is_empty() && (lower == base_lower || lower.starts_with(&format!("{base_lower}/"))) {
        return Some("the REST base path in another case, or with no operation");
    }
    None
}

/// Whether `base` is a usable base path: `/v2`, or a context path and `/v2`
/// (`/orchestration/v2`): plain segments, a leading slash, no trailing one.
pub fn is_valid_base_path(base: &str) -> bool {
    base.strip_prefix('/')
        .is_some_and(|rest| unplain(rest).is_none() && !rest.contains('?'))
}

#[cfg(test)]
mod tests;
