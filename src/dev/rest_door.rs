//! The REST door of the dev Envoy: since Camunda 8.8 the gateway serves the Orchestration
//! Cluster REST API under `/v2` on its own port (8080) beside gRPC (26500), and the 8.8+ clients
//! (camunda-client-java, `@camunda8/orchestration-cluster-api`) speak REST by default. So the
//! bootstrap that `serve --dev --envoy-config` writes gets a second listener (`--envoy-rest-listen`)
//! in front of the REST gateway (`--rest-gateway`, by default the gRPC gateway's host on 8080),
//! with the same ext_authz filter asking the same Check port: the authorizer tells the doors
//! apart by the path, so one grant means the same on both.
//!
//! Added to the gRPC bootstrap rather than written into it, so that the gRPC listener's template
//! ([`super::bootstrap`]) stays one piece: the listener goes first in `listeners:`, its cluster
//! first in `clusters:`.

use std::net::SocketAddr;

use super::bootstrap::GatewayAddr;

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

/// How Envoy reaches the authorizer bound at `check`: a wildcard bind address on loopback (as
/// the gRPC door's template does).
fn reachable(check: SocketAddr) -> SocketAddr {
    match check.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => {
            SocketAddr::from(([127, 0, 0, 1], check.port()))
        }
        ip if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, check.port()))
        }
        _ => check,
    }
}

/// `bootstrap` (the gRPC door's Envoy bootstrap) with the REST listener and its cluster added.
/// The listener sends every path to the REST gateway: the authorizer judges `/v2` by its
/// operations and refuses every other path (the web applications on the same port, `/v1`, …)
/// as another service's, whatever the token.
pub(crate) fn add_rest_door(bootstrap: &str, door: &RestDoor, check: SocketAddr) -> String {
    let check = reachable(check);
    let listener = format!(
        r#"    # The REST door (Camunda 8.8+): clients' CAMUNDA_REST_ADDRESS is http://{listen}; the
    # same ext_authz filter, asking the same Check port, in front of the REST gateway {gateway}.
    # HTTP/1.1 and h2c (prior knowledge) downstream, HTTP/1.1 to the gateway.
    - name: zeebe-rest
      address: {{socket_address: {{address: "{listen_ip}", port_value: {listen_port}}}}}
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: zeebe_rest
                codec_type: AUTO
                route_config:
                  name: zeebe-rest
                  virtual_hosts:
                    - name: rest-api
                      domains: ["*"]
                      routes:
                        # Every path: the authorizer allows only {base} operations the token
                        # may call. timeout 0s: job activation long-polls.
                        - match: {{prefix: "/"}}
                          route: {{cluster: zeebe-rest-gateway, timeout: 0s}}
                http_filters:
                  - name: envoy.filters.http.ext_authz
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
                      transport_api_version: V3
                      grpc_service: {{envoy_grpc: {{cluster_name: zeebe-authz}}, timeout: 2s}}
                      failure_mode_allow: false
                      status_on_error: {{code: ServiceUnavailable}}
                      with_request_body:        # tenant, job-type, message and process conditions read the JSON body
                        max_request_bytes: 65536
                        allow_partial_message: true
                        pack_as_bytes: true
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
"#,
        listen = door.listen,
        gateway = door.gateway,
        listen_ip = door.listen.ip(),
        listen_port = door.listen.port(),
        base = REST_BASE_PATH,
    );
    let cluster = format!(
        r#"    - name: zeebe-rest-gateway
      type: {cluster_type}
      connect_timeout: 1s
      load_assignment:
        cluster_name: zeebe-rest-gateway
        endpoints:
          - lb_endpoints:
              - endpoint: {{address: {{socket_address: {{address: "{host}", port_value: {port}}}}}}}
"#,
        cluster_type = door.gateway.cluster_type(),
        host = door.gateway.host,
        port = door.gateway.port,
    );
    // The check cluster is the gRPC door's (`zeebe-authz`); only its address is named here, in
    // the header comment, for a reader of the file.
    let header = format!(
        "# REST door: listener {} -> ext_authz {check} -> REST gateway {}.\n",
        door.listen, door.gateway
    );
    let mut out = String::with_capacity(bootstrap.len() + listener.len() + cluster.len() + 128);
    out.push_str(&header);
    for line in bootstrap.split_inclusive('\n') {
        out.push_str(line);
        match line.trim_end() {
            "  listeners:" => out.push_str(&listener),
            "  clusters:" => out.push_str(&cluster),
            _ => {}
        }
    }
    out
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

    /// The gRPC door's bootstrap the REST door is added to.
    fn grpc_bootstrap(check: &str, gateway: &str) -> String {
        envoy_bootstrap(
            "127.0.0.1:26600".parse().unwrap(),
            check.parse().unwrap(),
            &gateway_arg(gateway).unwrap(),
            zeebe_authz_core::catalog::RpcSet::EMPTY,
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
        let grpc = grpc_bootstrap("0.0.0.0:9000", "zeebe:26500");
        let text = add_rest_door(&grpc, &door(), "0.0.0.0:9000".parse().unwrap());
        // The gRPC door is kept whole.
        for line in grpc.lines() {
            assert!(text.contains(line), "{line}");
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
        let grpc = grpc_bootstrap("127.0.0.1:9000", "127.0.0.1:26500");
        let door = RestDoor {
            listen: "127.0.0.1:8180".parse().unwrap(),
            gateway: gateway_arg("127.0.0.1:18080").unwrap(),
        };
        let text = add_rest_door(&grpc, &door, "127.0.0.1:9000".parse().unwrap());
        let cluster = &text[text.find("- name: zeebe-rest-gateway\n").unwrap()..];
        assert!(cluster.contains("type: STATIC\n"), "{cluster}");
        assert!(cluster.contains(r#"address: "127.0.0.1", port_value: 18080"#));
    }
}
