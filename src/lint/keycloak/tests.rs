//! Unit tests of the parent module.
use super::*;

#[test]
fn claim_names_split_as_keycloak_splits_them() {
    assert_eq!(
        split_claim("permissions.${client_id}"),
        ["permissions", "${client_id}"]
    );
    assert_eq!(split_claim(r"a\.b.c"), ["a.b", "c"]);
    assert_eq!(split_claim("groups"), ["groups"]);
}

#[test]
fn the_realm_of_an_issuer() {
    assert_eq!(
        realm_of_issuer("https://kc/realms/camunda-platform").as_deref(),
        Some("camunda-platform")
    );
    assert_eq!(
        realm_of_issuer("https://kc/auth/realms/r/").as_deref(),
        Some("r")
    );
    assert_eq!(realm_of_issuer("https://kc/other"), None);
}

#[test]
fn a_client_role_mapper_writes_permissions_of_the_client_its_claim_names() {
    let mapper = Mapper {
        kind: "oidc-usermodel-client-role-mapper".into(),
        config: [(
            "claim.name".to_string(),
            "permissions.${client_id}".to_string(),
        )]
        .into(),
    };
    let path = ClaimPath::from_dotted("permissions.zeebe-api");
    assert_eq!(
        mapper.writes(path.segments()),
        Some(Writes::ClientRoles(Some("zeebe-api".into())))
    );
    assert_eq!(
        mapper.writes(ClaimPath::from_dotted("permissions").segments()),
        None
    );
    let off = Mapper {
        config: [
            (
                "claim.name".to_string(),
                "permissions.${client_id}".to_string(),
            ),
            ("access.token.claim".to_string(), "false".to_string()),
        ]
        .into(),
        ..mapper
    };
    assert_eq!(off.writes(path.segments()), None);
}
