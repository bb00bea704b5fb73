//! `zeebe-authz istio`'s command line and the options the generator reads.

use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;

use super::model::Labels;
use super::{
    DEFAULT_GATEWAY_PORT, DEFAULT_GATEWAY_REST_PORT, DEFAULT_GATEWAY_SELECTOR,
    DEFAULT_GATEWAY_SERVICE, DEFAULT_WAYPOINT,
};
use zeebe_authz_core::config;

/// How the mesh runs the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Mode {
    /// Envoy sidecars in the gateway pods; policies select the pods by label.
    Sidecar,
    /// ztunnel plus a waypoint; policies attach to the gateway Service.
    Ambient,
}

impl Mode {
    /// The mode's folder name.
    pub fn dir(self) -> &'static str {
        match self {
            Mode::Sidecar => "sidecar",
            Mode::Ambient => "ambient",
        }
    }
}

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Sidecar mode only.
    Sidecar,
    /// Ambient mode only.
    Ambient,
    /// Both, in `OUT/sidecar` and `OUT/ambient`.
    Both,
}

impl ModeArg {
    /// The modes to generate.
    pub(crate) fn modes(self) -> Vec<Mode> {
        match self {
            ModeArg::Sidecar => vec![Mode::Sidecar],
            ModeArg::Ambient => vec![Mode::Ambient],
            ModeArg::Both => vec![Mode::Sidecar, Mode::Ambient],
        }
    }
}

/// `istio` options.
#[derive(Debug, Clone, clap::Args)]
pub struct IstioArgs {
    /// The configuration file (its policies are read relative to it).
    #[arg(long, env = "ZEEBE_AUTHZ_CONFIG")]
    pub(crate) config: PathBuf,
    /// Which mesh mode to generate for.
    #[arg(long, value_enum, default_value_t = ModeArg::Both)]
    pub(crate) mode: ModeArg,
    /// Output folder; each mode gets a subfolder (`sidecar/`, `ambient/`).
    #[arg(long, default_value = "istio")]
    pub(crate) out: PathBuf,
    /// Compare with what is in `--out` instead of writing; exit 1 when anything differs.
    #[arg(long)]
    pub(crate) check: bool,
    /// Write the values of the Helm chart (charts/zeebe-authz) to this file instead of the
    /// manifests: the config and policies, and the Istio objects of `--mode sidecar` or
    /// `--mode ambient` made from them, tied together by a digest the chart checks.
    #[arg(long, value_name = "FILE")]
    pub(crate) helm_values: Option<PathBuf>,
    #[command(flatten)]
    /// What to generate.
    pub(crate) options: IstioOptions,
}

/// What the generated manifests look like, apart from the config.
#[derive(Debug, Clone, clap::Args)]
pub struct IstioOptions {
    /// The namespace of the Zeebe gateway and the authorizer.
    #[arg(long, default_value = "camunda")]
    pub namespace: String,
    /// Labels of the gateway pods (sidecar mode), as `key=value[,key=value…]`.
    #[arg(long, default_value = DEFAULT_GATEWAY_SELECTOR, value_parser = parse_labels)]
    pub gateway_selector: Labels,
    /// The gateway's Service (ambient mode: policies attach to it and it gets the waypoint label).
    #[arg(long, default_value = DEFAULT_GATEWAY_SERVICE)]
    pub gateway_service: String,
    /// The gateway's gRPC port; the policies guard this port and pass other ports through.
    #[arg(long, default_value_t = DEFAULT_GATEWAY_PORT)]
    pub gateway_port: u16,
    /// The gateway's REST port (the Orchestration Cluster REST API, Camunda 8.8+): the policies
    /// guard it too, the authorizer deciding every call there. `0` leaves it unguarded (a
    /// gateway before 8.8, whose REST port serves no job or process API).
    #[arg(long, default_value_t = DEFAULT_GATEWAY_REST_PORT)]
    pub gateway_rest_port: u16,
    /// Path patterns on the REST port that Istio lets through without asking the authorizer
    /// (Istio path syntax: `/operate/*`), for the web applications that share the port. Only
    /// prefixes Spring cannot route to the REST API; comma-separated or repeated.
    #[arg(long, value_delimiter = ',')]
    pub rest_pass_through: Vec<String>,
    /// The waypoint's name (ambient mode).
    #[arg(long, default_value = DEFAULT_WAYPOINT)]
    pub waypoint: String,
    /// The authorizer's image (build it with the repository's Dockerfile).
    #[arg(long, default_value = concat!("zeebe-authz:", env!("CARGO_PKG_VERSION")))]
    pub image: String,
    /// Authorizer replicas.
    #[arg(long, default_value_t = 2)]
    pub replicas: u32,
    /// How long Envoy waits for a Check before answering UNAVAILABLE. At least the config's
    /// `jwks.refetch_cooldown + jwks.fetch_timeout` (1 s + 1 s by default), so a Check waiting
    /// for a key Keycloak just rotated in is answered by the authorizer, not cut off by Envoy.
    #[arg(long, default_value = "2s", value_parser = config::positive_duration_arg)]
    pub check_timeout: Duration,
    /// Send every call on the gateway port to the authorizer (CUSTOM), not only those Istio
    /// cannot decide natively; Istio then only requires a valid token of the realm.
    #[arg(long)]
    pub authorizer_decides_all: bool,
}

impl Default for IstioOptions {
    fn default() -> Self {
        IstioOptions {
            namespace: "camunda".into(),
            gateway_selector: parse_labels(DEFAULT_GATEWAY_SELECTOR).expect("default parses"),
            gateway_service: DEFAULT_GATEWAY_SERVICE.into(),
            gateway_port: DEFAULT_GATEWAY_PORT,
            gateway_rest_port: DEFAULT_GATEWAY_REST_PORT,
            rest_pass_through: Vec::new(),
            waypoint: DEFAULT_WAYPOINT.into(),
            image: concat!("zeebe-authz:", env!("CARGO_PKG_VERSION")).into(),
            replicas: 2,
            check_timeout: Duration::from_secs(2),
            authorizer_decides_all: false,
        }
    }
}

/// Parses `key=value[,key=value…]`.
pub fn parse_labels(s: &str) -> Result<Labels, String> {
    let mut labels = Labels::new();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("'{pair}' is not key=value"))?;
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() || k.contains('*') || v.contains('*') {
            return Err(format!("'{pair}' is not a usable label (empty key or '*')"));
        }
        labels.insert(k.to_string(), v.to_string());
    }
    if labels.is_empty() {
        return Err("at least one key=value label is needed".into());
    }
    Ok(labels)
}
