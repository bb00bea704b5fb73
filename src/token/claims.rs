//! Where in the token's claims the permissions (and tenants) are.
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
    pub(crate) fn from_dotted(s: &str) -> ClaimPath {
        ClaimPath::new(s.split('.'))
    }

    /// Segments, for display and manifests.
    pub(crate) fn segments(&self) -> &[Box<str>] {
        &self.0
    }

    /// The strings at this path: a list of strings, or one string split on whitespace.
    /// Anything else (missing, numbers, objects) reads as no strings.
    pub(crate) fn read<'a>(&self, claims: &'a Value) -> Vec<&'a str> {
        let mut v = claims;
        for seg in &*self.0 {
            match v.get(&**seg) {
                Some(next) => v = next,
                None => return Vec::new(),
            }
        }
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
