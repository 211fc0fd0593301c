//! The NetworkAttachmentDefinition cnicheck builds for a scenario's `multus-network`, from the
//! `--multus-*` options, and reading the IPAM range back out of any NAD's CNI config.

use super::{InvalidRange, IpRange, MultusError, RangeError};
use kube::api::DynamicObject;
use serde_json::{Value, json};
use std::net::IpAddr;
use std::sync::Arc;

/// The CNI plugins that put a pod interface on a node's existing `master` interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Plugin {
    Macvlan,
    Ipvlan,
}

impl Plugin {
    fn name(self) -> &'static str {
        match self {
            Plugin::Macvlan => "macvlan",
            Plugin::Ipvlan => "ipvlan",
        }
    }

    /// The plugin's modes (upstream containernetworking/plugins), the default first.
    fn modes(self) -> &'static [&'static str] {
        match self {
            Plugin::Macvlan => &["bridge", "private", "vepa", "passthru"],
            Plugin::Ipvlan => &["l2", "l3", "l3s"],
        }
    }
}

/// What the `--multus-*` options say the secondary network looks like. The defaults match the
/// cnicheck testbed: macvlan in bridge mode on `eth1`, `10.202.0.100-10.202.0.199/24`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NadOptions {
    plugin: Plugin,
    master: String,
    mode: &'static str,
    range: IpRange,
    gateway: Option<IpAddr>,
}

impl NadOptions {
    pub fn new(
        plugin: Plugin,
        master: &str,
        mode: Option<&str>,
        range: IpRange,
        gateway: Option<IpAddr>,
    ) -> Result<Self, MultusError> {
        let master = master.trim();
        // Linux interface names: 1 to 15 bytes, no `/`, whitespace or NUL (dev_valid_name).
        if master.is_empty()
            || master.len() > 15
            || master
                .chars()
                .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
        {
            return Err(MultusError::InvalidMaster(master.to_owned()));
        }
        let modes = plugin.modes();
        let mode = match mode {
            None => modes[0],
            Some(mode) => *modes.iter().find(|known| **known == mode).ok_or_else(|| {
                MultusError::InvalidMode {
                    mode: mode.to_owned(),
                    plugin: plugin.name(),
                    modes: modes.join(", "),
                }
            })?,
        };
        if let Some(gateway) = gateway
            && IpRange::in_subnet(&range.subnet(), Some(gateway), Some(gateway)).is_err()
        {
            return Err(MultusError::GatewayOutsideSubnet {
                gateway,
                subnet: range.subnet(),
            });
        }
        Ok(NadOptions {
            plugin,
            master: master.to_owned(),
            mode,
            range,
            gateway,
        })
    }

    /// The NAD `name`, for cnicheck's apply (which adds labels and the namespace).
    pub fn build(&self, name: &str) -> DynamicObject {
        let mut range = json!({
            "subnet": self.range.subnet(),
            "rangeStart": self.range.start.to_string(),
            "rangeEnd": self.range.end.to_string(),
        });
        if let Some(gateway) = self.gateway {
            range["gateway"] = json!(gateway.to_string());
        }
        // host-local keeps its allocations per network name on each node: every run and scenario
        // that uses the same name shares one pool, so concurrent ones never hand out an address twice.
        let config = json!({
            "cniVersion": "0.4.0",
            "name": name,
            "type": self.plugin.name(),
            "master": self.master,
            "mode": self.mode,
            "ipam": {"type": "host-local", "ranges": [[range]]},
        });
        serde_json::from_value(json!({
            "apiVersion": "k8s.cni.cncf.io/v1",
            "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name},
            "spec": {"config": config.to_string()},
        }))
        .expect("a NetworkAttachmentDefinition is a valid object")
    }
}

/// The `master` interface of a NAD's CNI config (a conflist's first plugin that has one).
pub fn master_of(config: &str) -> Option<String> {
    let config: Value = serde_json::from_str(config).ok()?;
    let plugins = match config.get("plugins").and_then(Value::as_array) {
        Some(plugins) => plugins.iter().collect(),
        None => vec![&config],
    };
    plugins
        .into_iter()
        .find_map(|plugin| plugin.get("master")?.as_str())
        .map(str::to_owned)
}

/// Why cnicheck cannot tell the range of a NAD from its CNI config.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IpamError {
    #[error("its config is not JSON: {0}")]
    NotJson(Arc<serde_json::Error>),
    #[error("its config has no IPAM section")]
    NoIpam,
    #[error("its IPAM {key} `{address}` is not an address")]
    NotAnAddress { key: &'static str, address: String },
    #[error("its host-local IPAM has no subnet")]
    NoSubnet,
    #[error("its whereabouts IPAM has no range")]
    NoRange,
    #[error(transparent)]
    Range(#[from] RangeError),
    #[error(transparent)]
    InvalidRange(#[from] InvalidRange),
    #[error("its IPAM type `{0}` has no address range cnicheck can check")]
    UnsupportedType(String),
}

/// The range a NAD's CNI config (`spec.config`) hands addresses out of: host-local's `ranges`
/// (the first one) or `subnet`/`rangeStart`/`rangeEnd`, or whereabouts' `range` with
/// `range_start`/`range_end`. A conflist's first plugin with IPAM counts.
pub fn ipam_range(config: &str) -> Result<IpRange, IpamError> {
    let config: Value =
        serde_json::from_str(config).map_err(|error| IpamError::NotJson(Arc::new(error)))?;
    let plugins = match config.get("plugins").and_then(Value::as_array) {
        Some(plugins) => plugins.iter().collect(),
        None => vec![&config],
    };
    let ipam = plugins
        .into_iter()
        .find_map(|plugin| plugin.get("ipam"))
        .ok_or(IpamError::NoIpam)?;
    let text = |value: &Value, key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    let address = |value: &Value, key: &'static str| -> Result<Option<IpAddr>, IpamError> {
        text(value, key)
            .map(|address| {
                address
                    .parse()
                    .map_err(|_| IpamError::NotAnAddress { key, address })
            })
            .transpose()
    };
    let kind = text(ipam, "type").unwrap_or_default();
    match kind.as_str() {
        "host-local" => {
            let first = ipam.pointer("/ranges/0/0").unwrap_or(ipam);
            let subnet = text(first, "subnet").ok_or(IpamError::NoSubnet)?;
            Ok(IpRange::in_subnet(
                &subnet,
                address(first, "rangeStart")?,
                address(first, "rangeEnd")?,
            )?)
        }
        "whereabouts" => {
            let range = text(ipam, "range").ok_or(IpamError::NoRange)?;
            match range.split_once('-') {
                Some(_) => Ok(range.parse()?),
                None => Ok(IpRange::in_subnet(
                    &range,
                    address(ipam, "range_start")?,
                    address(ipam, "range_end")?,
                )?),
            }
        }
        other => Err(IpamError::UnsupportedType(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testbed_defaults() -> NadOptions {
        NadOptions::new(
            Plugin::Macvlan,
            "eth1",
            None,
            "10.202.0.100-10.202.0.199/24".parse().unwrap(),
            None,
        )
        .unwrap()
    }

    #[test]
    fn the_built_nad_reads_back_as_its_range() {
        let nad = testbed_defaults().build("cnicheck-macvlan");
        let config = nad.data["spec"]["config"].as_str().unwrap();
        let parsed: Value = serde_json::from_str(config).unwrap();
        assert_eq!(parsed["type"], "macvlan");
        assert_eq!(parsed["master"], "eth1");
        assert_eq!(master_of(config).as_deref(), Some("eth1"));
        assert_eq!(parsed["mode"], "bridge");
        assert_eq!(parsed["name"], "cnicheck-macvlan");
        assert_eq!(
            ipam_range(config).unwrap().to_string(),
            "10.202.0.100-10.202.0.199"
        );
        assert_eq!(nad.metadata.name.as_deref(), Some("cnicheck-macvlan"));
    }

    #[test]
    fn options_are_checked() {
        let range: IpRange = "192.168.50.100-192.168.50.199/24".parse().unwrap();
        let ipvlan = NadOptions::new(Plugin::Ipvlan, "ens5", None, range, None).unwrap();
        assert_eq!(ipvlan.mode, "l2");
        let errors = [
            NadOptions::new(Plugin::Macvlan, " ", None, range, None),
            NadOptions::new(Plugin::Macvlan, "eth1; rm", None, range, None),
            NadOptions::new(Plugin::Macvlan, "ens5", Some("l3"), range, None),
            NadOptions::new(
                Plugin::Macvlan,
                "ens5",
                None,
                range,
                "10.0.0.1".parse().ok(),
            ),
        ]
        .map(|result| result.unwrap_err().to_string());
        assert!(errors[0].contains("--multus-master"), "{}", errors[0]);
        assert!(errors[1].contains("eth1; rm"), "{}", errors[1]);
        assert!(
            errors[2].contains("bridge, private, vepa, passthru"),
            "{}",
            errors[2]
        );
        assert!(errors[3].contains("192.168.50.0/24"), "{}", errors[3]);
    }

    #[test]
    fn ranges_are_read_from_the_ipam_configs_in_use() {
        let testbed = r#"{"cniVersion": "0.4.0", "name": "macvlan-testbed", "type": "macvlan", "master": "eth1", "mode": "bridge",
            "ipam": {"type": "host-local", "subnet": "10.202.0.0/24"}}"#;
        assert_eq!(
            ipam_range(testbed).unwrap().to_string(),
            "10.202.0.1-10.202.0.254"
        );
        let whereabouts = r#"{"cniVersion": "0.3.1", "type": "macvlan", "master": "ens5",
            "ipam": {"type": "whereabouts", "range": "192.168.2.225/28", "range_start": "192.168.2.227"}}"#;
        assert_eq!(
            ipam_range(whereabouts).unwrap().to_string(),
            "192.168.2.227-192.168.2.238"
        );
        let conflist = r#"{"cniVersion": "0.4.0", "name": "n", "plugins": [{"type": "ipvlan", "master": "ens5",
            "ipam": {"type": "host-local", "ranges": [[{"subnet": "fd00:202::/64", "rangeStart": "fd00:202::10", "rangeEnd": "fd00:202::20"}]]}},
            {"type": "tuning"}]}"#;
        assert_eq!(
            ipam_range(conflist).unwrap().to_string(),
            "fd00:202::10-fd00:202::20"
        );
        let dhcp = r#"{"type": "macvlan", "master": "eth1", "ipam": {"type": "dhcp"}}"#;
        assert!(ipam_range(dhcp).unwrap_err().to_string().contains("`dhcp`"));
    }
}
