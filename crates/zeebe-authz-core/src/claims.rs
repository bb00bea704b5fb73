//! Where in the token's claims the permissions, tenants and Camunda-dialect owners are.
//!
//! Camunda Identity puts permissions in `permissions.<audience>` as a list; other setups use
//! `resource_access.<client>.roles` (list), `realm_access.roles` (list) or OAuth's `scope`
//! (one space-separated string). A [`ClaimPath`] names the claim as a path of object keys and
//! reads either shape.

use serde_json::Value;

/// A path of object keys into the claims (`["permissions", "zeebe-api"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath(Box<[Box<str>]>);

impl ClaimPath {
    /// A path from its segments.
    pub fn new<I: IntoIterator<Item = S>, S: Into<Box<str>>>(segments: I) -> ClaimPath {
        ClaimPath(segments.into_iter().map(Into::into).collect())
    }

    /// Parses the dotted form (`resource_access.zeebe.roles`).
    pub fn from_dotted(s: &str) -> ClaimPath {
        ClaimPath::new(s.split('.'))
    }

    /// Segments, for display and manifests.
    pub fn segments(&self) -> &[Box<str>] {
        &self.0
    }

    /// The top-level claim this path starts at (none for an empty path, which names the
    /// claims object itself).
    pub fn root(&self) -> Option<&str> {
        self.0.first().map(|s| &**s)
    }

    /// The value at this path, if every key exists.
    pub(crate) fn get<'a>(&self, claims: &'a Value) -> Option<&'a Value> {
        self.0.iter().try_fold(claims, |v, seg| v.get(&**seg))
    }

    /// Parses a claim as Camunda's OIDC settings write it: a JSONPath of object keys
    /// (`$.realm_access.roles`, `$['camundaorg']['groups']`), or a bare or dotted name
    /// (`groups`, `realm_access.roles`). Filters, wildcards and indexes are refused.
    pub(crate) fn from_json_path(s: &str) -> Result<ClaimPath, String> {
        let s = s.trim();
        let Some(mut rest) = s.strip_prefix('$') else {
            if s.is_empty() || s.split('.').any(str::is_empty) {
                return Err(format!("'{s}' is not a claim name"));
            }
            return Ok(ClaimPath::from_dotted(s));
        };
        let mut segments: Vec<String> = Vec::new();
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('.') {
                let end = r.find(['.', '[']).unwrap_or(r.len());
                let name = &r[..end];
                if name.is_empty() || name.contains(['*', '(', ')', '?', '@', ' ']) {
                    return Err(format!("'{s}': only object keys are supported"));
                }
                segments.push(name.to_string());
                rest = &r[end..];
            } else if let Some(r) = rest.strip_prefix('[') {
                let quote = r.chars().next().filter(|c| matches!(c, '\'' | '"'));
                let Some(q) = quote else {
                    return Err(format!("'{s}': only quoted keys are supported in [...]"));
                };
                let Some(close) = r[1..].find(q) else {
                    return Err(format!("'{s}': unterminated quote"));
                };
                let name = &r[1..1 + close];
                let after = &r[1 + close + 1..];
                let Some(after) = after.strip_prefix(']') else {
                    return Err(format!("'{s}': expected ] after the quoted key"));
                };
                segments.push(name.to_string());
                rest = after;
            } else {
                return Err(format!("'{s}': expected . or [ after $"));
            }
        }
        if segments.is_empty() {
            return Err(format!("'{s}' names no claim"));
        }
        Ok(ClaimPath::new(segments))
    }

    /// The strings at this path: a list of strings, or one string split on whitespace.
    /// Anything else (missing, numbers, objects) reads as no strings.
    pub fn read<'a>(&self, claims: &'a Value) -> Vec<&'a str> {
        let Some(v) = self.get(claims) else {
            return Vec::new();
        };
        match v {
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            Value::String(s) => s.split_whitespace().collect(),
            _ => Vec::new(),
        }
    }
}

impl std::fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_paths_of_object_keys() {
        let p = |s: &str| ClaimPath::from_json_path(s).map(|c| c.segments().to_vec());
        let seg = |v: &[&str]| Ok(v.iter().map(|s| Box::from(*s)).collect::<Vec<Box<str>>>());
        assert_eq!(p("groups"), seg(&["groups"]));
        assert_eq!(p("realm_access.roles"), seg(&["realm_access", "roles"]));
        assert_eq!(p("$.realm_access.roles"), seg(&["realm_access", "roles"]));
        assert_eq!(
            p("$['camundaorg']['groups']"),
            seg(&["camundaorg", "groups"])
        );
        assert_eq!(p("$[\"https://x.io/g\"]"), seg(&["https://x.io/g"]));
        assert_eq!(p("$.a['b.c']"), seg(&["a", "b.c"]));
        for bad in [
            "",
            "$",
            "a..b",
            "$.a[0]",
            "$..a",
            "$.a[*]",
            "$['a'",
            "$['a'x]",
            "$x",
            "$.a[?(@.x)]",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_lists_and_space_separated_strings() {
        let claims = json!({
            "permissions": {"zeebe-api": ["write:*", 3, "read:*"]},
            "scope": "openid  profile",
            "realm_access": {"roles": ["a"]},
            "resource_access": {"my.client": {"roles": ["r"]}},
        });
        assert_eq!(
            ClaimPath::from_dotted("permissions.zeebe-api").read(&claims),
            ["write:*", "read:*"]
        );
        assert_eq!(
            ClaimPath::from_dotted("scope").read(&claims),
            ["openid", "profile"]
        );
        assert_eq!(
            ClaimPath::from_dotted("realm_access.roles").read(&claims),
            ["a"]
        );
        assert_eq!(
            ClaimPath::new(["resource_access", "my.client", "roles"]).read(&claims),
            ["r"]
        );
        assert!(
            ClaimPath::from_dotted("permissions")
                .read(&claims)
                .is_empty()
        );
        assert!(ClaimPath::from_dotted("nope.x").read(&claims).is_empty());
    }
}
