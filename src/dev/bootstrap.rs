//! `serve --dev --envoy-config FILE --gateway HOST:PORT`: a runnable Envoy bootstrap putting the
//! dev authorizer in front of a Zeebe gateway, with the ext_authz filter exactly as the README
//! documents it (gRPC, fail closed, 503 on error, request body forwarded as bytes so tenant and
//! job-type conditions can be decided).
//!
//! Written by the running server rather than a separate command because only it knows the
//! Check address it bound. Text from a template: every value put in is a parsed address, so
//! nothing needs escaping, and the file keeps comments a newcomer can read.

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

/// The Envoy bootstrap: a listener on `listen` whose ext_authz filter asks `check` and whose
/// router sends allowed calls to `gateway` over HTTP/2. The rpcs of `body_free` (those no
/// condition of the policy reads) get a route each on which Envoy sends the Check without
/// buffering the body first ([`body_free_routes`]).
pub(crate) fn envoy_bootstrap(
    listen: SocketAddr,
    check: SocketAddr,
    gateway: &GatewayAddr,
    body_free: RpcSet,
) -> String {
    // Envoy connects to the authorizer: a wildcard bind address is reached on loopback.
    let check = match check.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => {
            SocketAddr::from(([127, 0, 0, 1], check.port()))
        }
        ip if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, check.port()))
        }
        _ => check,
    };
    let gateway_type = if gateway.is_ip {
        "STATIC"
    } else {
        "STRICT_DNS"
    };
    format!(
        r#"# Envoy in front of the Zeebe gateway {gateway}, asking zeebe-authz (serve --dev, Check on
# {check}) about every call. Written by `zeebe-authz serve --dev --envoy-config`; run it with
# `envoy -c THIS_FILE` and point Camunda clients at {listen} (plaintext h2c, as the gateway).
static_resources:
  listeners:
    - name: zeebe
      address: {{socket_address: {{address: "{listen_ip}", port_value: {listen_port}}}}}
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: zeebe
                codec_type: AUTO
                route_config:
                  name: zeebe
                  virtual_hosts:
                    - name: zeebe-gateway
                      domains: ["*"]
                      routes:
{body_free_routes}                        # timeout 0s: ActivateJobs and StreamActivatedJobs are long-lived streams.
                        - match: {{prefix: "/"}}
                          route: {{cluster: zeebe-gateway, timeout: 0s}}
                http_filters:
                  # The filter as zeebe-authz's README documents it.
                  - name: envoy.filters.http.ext_authz
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
                      transport_api_version: V3
                      grpc_service: {{envoy_grpc: {{cluster_name: zeebe-authz}}, timeout: 2s}}
                      failure_mode_allow: false
                      status_on_error: {{code: ServiceUnavailable}}
                      with_request_body:        # tenant and job-type conditions read the body
                        max_request_bytes: 65536
                        allow_partial_message: true
                        pack_as_bytes: true
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
    - name: zeebe-authz
      type: STATIC
      connect_timeout: 1s
      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          explicit_http_config: {{http2_protocol_options: {{}}}}
      load_assignment:
        cluster_name: zeebe-authz
        endpoints:
          - lb_endpoints:
              - endpoint: {{address: {{socket_address: {{address: "{check_ip}", port_value: {check_port}}}}}}}
    - name: zeebe-gateway
      type: {gateway_type}
      connect_timeout: 1s
      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          explicit_http_config: {{http2_protocol_options: {{}}}}
      load_assignment:
        cluster_name: zeebe-gateway
        endpoints:
          - lb_endpoints:
              - endpoint: {{address: {{socket_address: {{address: "{gateway_host}", port_value: {gateway_port}}}}}}}
"#,
        body_free_routes = body_free_routes(body_free),
        listen_ip = listen.ip(),
        listen_port = listen.port(),
        check_ip = check.ip(),
        check_port = check.port(),
        gateway_host = gateway.host,
        gateway_port = gateway.port,
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
