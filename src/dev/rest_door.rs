//! The REST door of the dev Envoy: since Camunda 8.8 the gateway serves the Orchestration
//! Cluster REST API under `/v2` on its own port (8080) beside gRPC (26500), and the 8.8+ clients
//! (camunda-client-java, `@camunda8/orchestration-cluster-api`) speak REST by default. So the
//! bootstrap that `serve --dev --envoy-config` writes gets a second listener (`--envoy-rest-listen`)
//! in front of the REST gateway (`--rest-gateway`, by default the gRPC gateway's host on 8080),
//! with the same ext_authz filter asking the same Check port: the authorizer tells the doors
//! apart by the path, so one grant means the same on both.
//!
//! The listener and the cluster are written by [`super::bootstrap`]'s functions, as the gRPC
//! door's are: only what differs (names, comments, the catch-all route) is said here.

use std::net::SocketAddr;

use super::bootstrap::{
    GatewayAddr, Listener, OtherDoor, Upstream, catch_all_route, cluster, listener, reachable,
};

/// The REST listener unless told otherwise: the REST gateway's 8080 plus 100, as the gRPC
/// listener's default is the gateway's 26500 plus 100.
pub(crate) const DEFAULT_ENVOY_REST_LISTEN: &str = "127.0.0.1:8180";
/// The port of the REST gateway beside a gRPC gateway given by `--gateway` alone.
pub(crate) const DEFAULT_REST_GATEWAY_PORT: u16 = 8080;
/// The Orchestration Cluster REST API's path (no context path, as the gateway serves it by
/// default).
pub(crate) const REST_BASE_PATH: &str = "/v2";

/// Where the REST door listens and what it is in front of.
#[derive(Debug, Clone)]
pub(crate) struct RestDoor {
    /// Envoy's REST listener (what REST clients use as `CAMUNDA_REST_ADDRESS`).
    pub(crate) listen: SocketAddr,
    /// The gateway's REST port behind it.
    pub(crate) gateway: GatewayAddr,
}

/// The REST door's pieces of the bootstrap ([`super::bootstrap::envoy_bootstrap`] writes the
/// listener after the gRPC listener, the `zeebe-rest-gateway` cluster after the others): the
/// same ext_authz filter, asking the same check cluster (at `check`, named in the file's head).
/// The listener sends every path to the REST gateway: the authorizer judges `/v2` by its
/// operations and refuses every other path (the web applications on the same port, `/v1`, …)
/// as another service's, whatever the token.
pub(crate) fn bootstrap_door(door: &RestDoor, check: SocketAddr) -> OtherDoor {
    let comment = format!(
        r#"    # The REST door (Camunda 8.8+): clients' CAMUNDA_REST_ADDRESS is http://{listen}; the
    # same ext_authz filter, asking the same Check port, in front of the REST gateway {gateway}.
    # HTTP/1.1 and h2c (prior knowledge) downstream, HTTP/1.1 to the gateway.
"#,
        listen = door.listen,
        gateway = door.gateway,
    );
    let routes = catch_all_route(
        &format!(
            "Every path: the authorizer allows only {REST_BASE_PATH} operations the token\nmay call. timeout 0s: job activation long-polls."
        ),
        "zeebe-rest-gateway",
    );
    OtherDoor {
        head: format!(
            "# REST door: listener {} -> ext_authz {} -> REST gateway {}.\n",
            door.listen,
            reachable(check),
            door.gateway
        ),
        listener: listener(&Listener {
            comment: &comment,
            name: "zeebe-rest",
            listen: door.listen,
            virtual_host: "rest-api",
            routes: &routes,
            body_reads: "tenant, job-type, message and process conditions read the JSON body",
        }),
        cluster: cluster("zeebe-rest-gateway", &door.gateway, Upstream::Http1),
    }
}

/// The banner's REST lines: the address and OAuth settings the REST clients read
/// (`@camunda8/orchestration-cluster-api` reads only `CAMUNDA_*`; the Java client both
/// spellings), and a call the read token may make and one it may not.
pub(crate) fn print_rest_banner(
    door: &RestDoor,
    check: SocketAddr,
    writer: (&str, &str),
    audience: &str,
) {
    let listen = door.listen;
    println!("export CAMUNDA_REST_ADDRESS=http://{listen}");
    println!("export CAMUNDA_CLIENT_ID={}", writer.0);
    println!("export CAMUNDA_CLIENT_SECRET={}", writer.1);
    println!("export CAMUNDA_TOKEN_AUDIENCE={audience}");
    println!(
        "# REST door (Camunda 8.8+ clients' default): listener {listen} -> ext_authz {check} -> REST gateway {}; try (read token: Topology only):",
        door.gateway
    );
    println!(
        "#   curl -H \"authorization: Bearer $ZEEBE_AUTHZ_READ_TOKEN\" http://{listen}{REST_BASE_PATH}/topology"
    );
    println!(
        "#   curl -i -H \"authorization: Bearer $ZEEBE_AUTHZ_READ_TOKEN\" -H 'content-type: application/json' -d '{{\"processDefinitionId\":\"order-process\"}}' http://{listen}{REST_BASE_PATH}/process-instances"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev::bootstrap::{envoy_bootstrap, gateway_arg};

    /// The bootstrap, with the REST door `door` or without one.
    fn bootstrap(check: &str, gateway: &str, door: Option<&RestDoor>) -> String {
        envoy_bootstrap(
            "127.0.0.1:26600".parse().unwrap(),
            check.parse().unwrap(),
            &gateway_arg(gateway).unwrap(),
            zeebe_authz_core::catalog::RpcSet::EMPTY,
            door.map(|d| bootstrap_door(d, check.parse().unwrap()))
                .as_ref(),
        )
    }

    fn door() -> RestDoor {
        RestDoor {
            listen: DEFAULT_ENVOY_REST_LISTEN.parse().unwrap(),
            gateway: gateway_arg("zeebe:26500")
                .unwrap()
                .with_port(DEFAULT_REST_GATEWAY_PORT),
        }
    }

    #[test]
    fn rest_door_is_a_second_listener_asking_the_same_check_cluster() {
        let grpc = bootstrap("0.0.0.0:9000", "zeebe:26500", None);
        let text = bootstrap("0.0.0.0:9000", "zeebe:26500", Some(&door()));
        // The gRPC door is kept whole: each of its listeners and clusters is in the combined
        // file, unchanged, beside the REST door's.
        let parse = |yaml: &str| -> serde_json::Value { serde_saphyr::from_str(yaml).unwrap() };
        let (grpc, both) = (parse(&grpc), parse(&text));
        for part in ["listeners", "clusters"] {
            let mine = grpc["static_resources"][part].as_array().unwrap();
            let all = both["static_resources"][part].as_array().unwrap();
            assert_eq!(
                all.len(),
                mine.len() + 1,
                "{part}: one more for the REST door"
            );
            for entry in mine {
                assert!(all.contains(entry), "{part}: {entry}");
            }
        }
        assert!(text.contains("- name: zeebe-rest\n"), "{text}");
        assert!(
            text.contains(r#"address: "127.0.0.1", port_value: 8180"#),
            "{text}"
        );
        assert!(text.contains(r#"address: "zeebe", port_value: 8080"#));
        assert!(text.contains("route: {cluster: zeebe-rest-gateway, timeout: 0s}"));
        assert!(text.contains("ext_authz 127.0.0.1:9000"), "{text}");
        // Both listeners ask the one check cluster, fail closed, with the body.
        assert_eq!(text.matches("cluster_name: zeebe-authz}").count(), 2);
        assert_eq!(text.matches("failure_mode_allow: false").count(), 2);
        assert_eq!(text.matches("pack_as_bytes: true").count(), 2);
        // One listener and one cluster each, in their lists.
        let listeners = text.find("  listeners:").unwrap();
        let clusters = text.find("  clusters:").unwrap();
        let rest_listener = text.find("- name: zeebe-rest\n").unwrap();
        let rest_cluster = text.find("- name: zeebe-rest-gateway\n").unwrap();
        assert!(listeners < rest_listener && rest_listener < clusters);
        assert!(clusters < rest_cluster);
        assert!(text.contains("type: STRICT_DNS"));
    }

    #[test]
    fn rest_gateway_by_ip_is_a_static_cluster() {
        let door = RestDoor {
            listen: "127.0.0.1:8180".parse().unwrap(),
            gateway: gateway_arg("127.0.0.1:18080").unwrap(),
        };
        let text = bootstrap("127.0.0.1:9000", "127.0.0.1:26500", Some(&door));
        let cluster = &text[text.find("- name: zeebe-rest-gateway\n").unwrap()..];
        assert!(cluster.contains("type: STATIC\n"), "{cluster}");
        assert!(cluster.contains(r#"address: "127.0.0.1", port_value: 18080"#));
        // HTTP/1.1 to the REST gateway (its last cluster); h2c to the others.
        assert!(!cluster.contains("http2_protocol_options"), "{cluster}");
        assert_eq!(text.matches("http2_protocol_options").count(), 2);
    }
}
