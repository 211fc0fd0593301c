//! Whether the cluster offers what a scenario `requires`; an unmet requirement skips it, with
//! the requirement as the reason.

use super::SuiteContext;
use crate::checks;
use crate::cluster;
use crate::scenario::model::Scenario;
use std::time::Duration;

/// How long `cilium-envoy --version` may take in an agent.
const L7_PROXY_CHECK_TIMEOUT: Duration = Duration::from_secs(20);

/// Whether an agent's encryption status (see `cluster::cilium_encryption_status`) is WireGuard
/// or IPsec.
fn is_encrypting(status: &str) -> bool {
    ["Wireguard", "IPsec"]
        .iter()
        .any(|mode| status.starts_with(mode))
}

/// Why the scenario cannot run on this cluster, if it cannot.
pub(super) async fn unmet_requirement(
    context: &SuiteContext,
    scenario: &Scenario,
) -> Option<String> {
    let requires = &scenario.requires;
    let schedulable = context.nodes.iter().filter(|node| node.schedulable).count();
    if let Some(min) = requires.min_nodes
        && schedulable < min as usize
    {
        return Some(format!(
            "needs {min} schedulable nodes, the cluster has {schedulable}"
        ));
    }
    if requires.external_target && context.options.external.is_none() {
        return Some(
            "needs --external-target (cnicheck never probes a public address on its own)".into(),
        );
    }
    if requires.cilium && context.cilium.is_none() {
        return Some(format!(
            "needs Cilium: {}",
            checks::cilium::absence(&context.cni.name)
        ));
    }
    if requires.ipblock_selects_pods && context.cilium.is_some() {
        return Some(
            "needs ipBlock peers to select the cluster's own pods by address, which Cilium's \
             CIDR rules never do: they describe peers outside the cluster, pods are matched by \
             identity (Cilium's documentation: Kubernetes NetworkPolicy, and Policy Language, \
             CIDR based)"
                .into(),
        );
    }
    if requires.cilium_encryption {
        let Some(cilium) = &context.cilium else {
            return Some(format!(
                "needs Cilium's encryption between nodes: {}",
                checks::cilium::absence(&context.cni.name)
            ));
        };
        let plaintext: Vec<String> = context
            .cilium_encryption
            .iter()
            .filter(|(_, status)| !is_encrypting(status))
            .map(|(node, status)| format!("{node}: {status}"))
            .collect();
        if context.cilium_encryption.is_empty() || !plaintext.is_empty() {
            return Some(format!(
                "needs every Cilium agent to encrypt between nodes, and {} says otherwise \
                 (cilium-dbg encrypt status: {})",
                cilium.agent.object(),
                if plaintext.is_empty() {
                    "no agent answered".to_owned()
                } else {
                    plaintext.join(", ")
                }
            ));
        }
    }
    if requires.cilium_l7_proxy {
        let Some(cilium) = &context.cilium else {
            return Some(format!(
                "needs Cilium's L7 proxy: {}",
                checks::cilium::absence(&context.cni.name)
            ));
        };
        if let Err(missing) =
            cluster::l7_proxy_available(&context.client, cilium, L7_PROXY_CHECK_TIMEOUT).await
        {
            return Some(format!(
                "needs Cilium's L7 proxy (Envoy) to enforce L7 policies: {missing}"
            ));
        }
    }
    if !requires.crds.is_empty() {
        match cluster::missing_crds(&context.client, &requires.crds).await {
            Ok(missing) if !missing.is_empty() => {
                return Some(format!(
                    "needs CRDs that are not installed: {}",
                    missing.join(", ")
                ));
            }
            Ok(_) => {}
            Err(error) => return Some(format!("could not check CRDs: {error}")),
        }
    }
    None
}
