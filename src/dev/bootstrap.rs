//! `serve --dev --envoy-config FILE --gateway HOST:PORT`: a runnable Envoy bootstrap putting the
//! dev authorizer in front of a Zeebe gateway, with the ext_authz filter exactly as the README
//! documents it (gRPC, fail closed, 503 on error, request body forwarded as bytes so tenant and
//! job-type conditions can be decided).
//!
//! Written by the running server rather than a separate command because only it knows the
//! Check address it bound. Text from templates: every value put in is a parsed address, so
//! nothing needs escaping, and the file keeps comments a newcomer can read. A listener (with
//! the ext_authz filter) and a cluster are each written by one function here, for the gRPC door
//! and the REST door ([`super::rest_door`]) alike; the REST door's pieces come in as an
//! [`OtherDoor`], so this module does not depend on that one.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use zeebe_authz_core::catalog::{GATEWAY_PATH_PREFIX, RpcSet};

/// The listener the bootstrap gives Envoy unless told otherwise (the gateway's own 26500 is
/// often taken by the gateway itself, or a port-forward to it).
pub(crate) const DEFAULT_ENVOY_LISTEN: &str = "127.0.0.1:26600";

/// A gateway address as given on the command line: an IP literal (Envoy cluster `STATIC`) or
/// a DNS name (`STRICT_DNS`, e.g. `camunda-zeebe-gateway:26500` from inside a cluster).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GatewayAddr {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) is_ip: bool,
}

impl GatewayAddr {
    /// The same host on another port (the REST gateway beside the gRPC one).
    pub(crate) fn with_port(&self, port: u16) -> Self {
        Self {
            port,
            ..self.clone()
        }
    }

    /// The Envoy cluster type that resolves it: `STATIC` for an IP, `STRICT_DNS` for a name.
    pub(crate) fn cluster_type(&self) -> &'static str {
        if self.is_ip { "STATIC" } else { "STRICT_DNS" }
    }
}

impl std::fmt::Display for GatewayAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// clap's value parser for `--gateway HOST:PORT` (`[v6]:PORT` for IPv6).
pub(crate) fn gateway_arg(s: &str) -> Result<GatewayAddr, String> {
    let bad =
        || format!("'{s}' is not HOST:PORT (e.g. 127.0.0.1:26500 or camunda-zeebe-gateway:26500)");
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().ok().filter(|p| *p != 0).ok_or_else(bad)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(GatewayAddr {
            host: ip.to_string(),
            port,
            is_ip: true,
        });
    }
    let name_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !name_ok {
        return Err(bad());
    }
    Ok(GatewayAddr {
        host: host.to_ascii_lowercase(),
        port,
        is_ip: false,
    })
}

/// A further door of the bootstrap (the REST door, [`super::rest_door`]): a line for the
/// file's head, its listener and the cluster it routes to, written by [`listener`] and
/// [`cluster`].
pub(crate) struct OtherDoor {
    pub(crate) head: String,
    pub(crate) listener: String,
    pub(crate) cluster: String,
}

/// The Envoy bootstrap: a listener on `listen` whose ext_authz filter asks `check` and whose
/// router sends allowed calls to `gateway` over HTTP/2; with `other`, that door's listener and
/// cluster after the gRPC door's. The rpcs of `body_free` (those no condition of the policy
/// reads) get a route each on which Envoy sends the Check without buffering the body first
/// ([`body_free_routes`]).
pub(crate) fn envoy_bootstrap(
    listen: SocketAddr,
    check: SocketAddr,
    gateway: &GatewayAddr,
    body_free: RpcSet,
    other: Option<&OtherDoor>,
) -> String {
    let check = reachable(check);
    let mut out = String::new();
    if let Some(door) = other {
        out.push_str(&door.head);
    }
    let _ = write!(
        out,
        r#"# Envoy in front of the Zeebe gateway {gateway}, asking zeebe-authz (serve --dev, Check on
# {check}) about every call. Written by `zeebe-authz serve --dev --envoy-config`; run it with
# `envoy -c THIS_FILE` and point Camunda clients at {listen} (plaintext h2c, as the gateway).
static_resources:
  listeners:
"#
    );
    let routes = body_free_routes(body_free)
        + &catch_all_route(
            "timeout 0s: ActivateJobs and StreamActivatedJobs are long-lived streams.",
            "zeebe-gateway",
        );
    out.push_str(&listener(&Listener {
        comment: "",
        name: "zeebe",
        listen,
        virtual_host: "zeebe-gateway",
        routes: &routes,
        body_reads: "tenant and job-type conditions read the body",
    }));
    if let Some(door) = other {
        out.push_str(&door.listener);
    }
    out.push_str("  clusters:\n");
    let authz = GatewayAddr {
        host: check.ip().to_string(),
        port: check.port(),
        is_ip: true,
    };
    out.push_str(&cluster("zeebe-authz", &authz, Upstream::H2c));
    out.push_str(&cluster("zeebe-gateway", gateway, Upstream::H2c));
    if let Some(door) = other {
        out.push_str(&door.cluster);
    }
    out
}

/// How Envoy reaches the authorizer bound at `check`: a wildcard bind address on loopback.
pub(super) fn reachable(check: SocketAddr) -> SocketAddr {
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

/// One listener of the bootstrap: its HTTP connection manager routes by `routes` (entries of
/// the virtual host's `routes:`, indented as [`catch_all_route`] writes them), behind the
/// ext_authz filter as the README documents it: asking the `zeebe-authz` cluster over gRPC, fail
/// closed, 503 on error, the request body forwarded as bytes.
pub(super) struct Listener<'a> {
    /// Comment lines before the listener, indented as a list entry (`    # …\n`), or empty.
    pub(super) comment: &'a str,
    /// The listener's name, also its route config's and (`-` as `_`) its stats prefix.
    pub(super) name: &'a str,
    pub(super) listen: SocketAddr,
    /// The virtual host's name.
    pub(super) virtual_host: &'a str,
    pub(super) routes: &'a str,
    /// What reads the body, the comment of `with_request_body`.
    pub(super) body_reads: &'a str,
}

/// The listener's YAML, an entry of `static_resources.listeners`.
pub(super) fn listener(l: &Listener<'_>) -> String {
    format!(
        r#"{comment}    - name: {name}
      address: {{socket_address: {{address: "{listen_ip}", port_value: {listen_port}}}}}
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: {stat_prefix}
                codec_type: AUTO
                route_config:
                  name: {name}
                  virtual_hosts:
                    - name: {virtual_host}
                      domains: ["*"]
                      routes:
{routes}                http_filters:
                  # The filter as zeebe-authz's README documents it.
                  - name: envoy.filters.http.ext_authz
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
                      transport_api_version: V3
                      grpc_service: {{envoy_grpc: {{cluster_name: zeebe-authz}}, timeout: 2s}}
                      failure_mode_allow: false
                      status_on_error: {{code: ServiceUnavailable}}
                      with_request_body:        # {body_reads}
                        max_request_bytes: 65536
                        allow_partial_message: true
                        pack_as_bytes: true
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
"#,
        comment = l.comment,
        name = l.name,
        listen_ip = l.listen.ip(),
        listen_port = l.listen.port(),
        stat_prefix = l.name.replace('-', "_"),
        virtual_host = l.virtual_host,
        routes = l.routes,
        body_reads = l.body_reads,
    )
}

/// The route of every path not routed before it, to `cluster` with no timeout, after
/// `comment` (one or more lines, each written as a YAML comment).
pub(super) fn catch_all_route(comment: &str, cluster: &str) -> String {
    let mut out = String::new();
    for line in comment.lines() {
        let _ = writeln!(out, "                        # {line}");
    }
    let _ = write!(
        out,
        "                        - match: {{prefix: \"/\"}}\n                          route: {{cluster: {cluster}, timeout: 0s}}\n"
    );
    out
}

/// The protocol Envoy speaks to a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Upstream {
    /// HTTP/2 in plaintext (the authorizer; the gRPC gateway).
    H2c,
    /// HTTP/1.1 (the REST gateway).
    Http1,
}

/// A cluster of one endpoint, `address`, an entry of `static_resources.clusters`.
pub(super) fn cluster(name: &str, address: &GatewayAddr, upstream: Upstream) -> String {
    let protocol = match upstream {
        Upstream::H2c => concat!(
            "      typed_extension_protocol_options:\n",
            "        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:\n",
            "          \"@type\": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions\n",
            "          explicit_http_config: {http2_protocol_options: {}}\n",
        ),
        Upstream::Http1 => "",
    };
    format!(
        r#"    - name: {name}
      type: {cluster_type}
      connect_timeout: 1s
{protocol}      load_assignment:
        cluster_name: {name}
        endpoints:
          - lb_endpoints:
              - endpoint: {{address: {{socket_address: {{address: "{host}", port_value: {port}}}}}}}
"#,
        cluster_type = address.cluster_type(),
        host = address.host,
        port = address.port,
    )
}

/// One exact-path route per rpc of `rpcs` (gRPC paths are exact), each turning off the
/// ext_authz filter's body buffering (`with_request_body`) for its rpc: Envoy then sends the
/// Check as soon as it has the headers instead of holding the call until the whole body (up
/// to 64 KiB) is in. Only for rpcs whose body no decision reads: a conditional rpc on such a
/// route would be refused for want of a body, never allowed. The per-route settings are
/// written once and reused through a YAML alias.
fn body_free_routes(rpcs: RpcSet) -> String {
    let mut out = String::new();
    for (i, rpc) in rpcs.iter().enumerate() {
        if i == 0 {
            out.push_str(
                "                        # Rpcs no condition of the policy reads: the Check goes without the body.\n",
            );
        }
        let _ = writeln!(
            out,
            "                        - match: {{path: \"{GATEWAY_PATH_PREFIX}{name}\"}}\n                          route: {{cluster: zeebe-gateway, timeout: 0s}}",
            name = rpc.name()
        );
        if i == 0 {
            out.push_str(concat!(
                "                          typed_per_filter_config: &body_free\n",
                "                            envoy.filters.http.ext_authz:\n",
                "                              \"@type\": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute\n",
                "                              check_settings: {disable_request_body_buffering: true}\n",
            ));
        } else {
            out.push_str("                          typed_per_filter_config: *body_free\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_addresses_parse_as_ip_or_dns_name() {
        let ip = gateway_arg("127.0.0.1:26500").unwrap();
        assert!(ip.is_ip);
        assert_eq!(ip.to_string(), "127.0.0.1:26500");
        let v6 = gateway_arg("[::1]:26500").unwrap();
        assert_eq!((v6.host.as_str(), v6.is_ip), ("::1", true));
        assert_eq!(v6.to_string(), "[::1]:26500");
        let name = gateway_arg("Camunda-Zeebe-Gateway.camunda:26500").unwrap();
        assert_eq!(
            (name.host.as_str(), name.is_ip),
            ("camunda-zeebe-gateway.camunda", false)
        );
        for bad in [
            "",
            "26500",
            "host:",
            "host:0",
            "host:99999",
            ":26500",
            "a b:1",
            "a..b:1",
            "\"x\":1",
        ] {
            assert!(gateway_arg(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bootstrap_names_the_three_addresses_and_the_documented_filter() {
        let text = envoy_bootstrap(
            "127.0.0.1:26600".parse().unwrap(),
            "0.0.0.0:9000".parse().unwrap(),
            &gateway_arg("zeebe:26500").unwrap(),
            RpcSet::EMPTY,
            None,
        );
        assert!(
            text.contains(r#"address: "127.0.0.1", port_value: 26600"#),
            "{text}"
        );
        assert!(
            text.contains(r#"address: "127.0.0.1", port_value: 9000"#),
            "wildcard check bind reached on loopback"
        );
        assert!(text.contains(r#"address: "zeebe", port_value: 26500"#));
        assert!(text.contains("type: STRICT_DNS"));
        for line in [
            "failure_mode_allow: false",
            "status_on_error: {code: ServiceUnavailable}",
            "pack_as_bytes: true",
            "allow_partial_message: true",
            "transport_api_version: V3",
        ] {
            assert!(text.contains(line), "{line}");
        }
        assert!(
            !text.contains("ExtAuthzPerRoute"),
            "no rpc given, no per-rpc route"
        );
    }

    #[test]
    fn body_free_rpcs_get_an_exact_route_each_without_body_buffering() {
        let policy =
            zeebe_authz_core::policy::embedded("dev", zeebe_authz_core::policy::DEV_POLICY)
                .unwrap();
        let free = RpcSet::all().difference(policy.body_rpcs());
        let text = envoy_bootstrap(
            "127.0.0.1:26600".parse().unwrap(),
            "127.0.0.1:9000".parse().unwrap(),
            &gateway_arg("zeebe:26500").unwrap(),
            free,
            None,
        );
        let routes = text.matches("- match: {path: ").count();
        assert_eq!(routes, free.iter().count());
        assert!(text.contains(r#"- match: {path: "/gateway_protocol.Gateway/CompleteJob"}"#));
        assert!(text.contains(r#"- match: {path: "/gateway_protocol.Gateway/Topology"}"#));
        assert!(!text.contains(r#"/gateway_protocol.Gateway/CreateProcessInstance""#));
        assert_eq!(
            text.matches("disable_request_body_buffering: true").count(),
            1
        );
        assert_eq!(
            text.matches("typed_per_filter_config: *body_free").count(),
            routes - 1
        );
        // The catch-all, with the body, comes after every exact route.
        let catch_all = text.find(r#"- match: {prefix: "/"}"#).unwrap();
        assert!(text.rfind("- match: {path: ").unwrap() < catch_all);
    }
}
