//! What the cluster's own configuration says of Service balancing, decided once per run from
//! Cilium's `cilium-config`: whether `expect: consistent` can be checked (consistent hashing is
//! Cilium's maglev, which only its kube-proxy replacement does), and what explains an
//! `expect: affinity` that fails.

use crate::cluster::{CiliumInstall, ServiceBalancing};

/// Why the run skips `consistent` cells: every cluster has a reason today, since cnicheck does
/// not yet remove a backend mid-check, which a maglev cluster would need to prove its promise.
pub fn consistent_hashing_skip(cilium: Option<&CiliumInstall>) -> String {
    let Some(cilium) = cilium else {
        return "no consistent hashing here: without Cilium, Services are balanced by kube-proxy, \
                which picks a backend at random for each new connection, so flows move when \
                backends change"
            .into();
    };
    let config = format!("{}/cilium-config", cilium.namespace);
    match cilium.service_balancing {
        None => format!("no consistent hashing to check: {config} is missing"),
        Some(ServiceBalancing::WithoutReplacement) => format!(
            "no consistent hashing here: Cilium's kube-proxy replacement is off \
             (kube-proxy-replacement in {config}), and maglev needs it"
        ),
        Some(ServiceBalancing::Random) => format!(
            "no consistent hashing here: Cilium balances Services at random (bpf-lb-algorithm in \
             {config} is not maglev)"
        ),
        Some(ServiceBalancing::Maglev) => format!(
            "Cilium uses maglev ({config}), but cnicheck cannot check its consistency yet: that \
             takes removing a backend between samples"
        ),
    }
}

/// Why this cluster ignores `sessionAffinity: ClientIP`, when its configuration says it does:
/// the likely cause of a failed `affinity` cell, named in the failure.
pub fn affinity_ignored(cilium: Option<&CiliumInstall>) -> Option<String> {
    let cilium = cilium?;
    (cilium.session_affinity == Some(false)).then(|| {
        format!(
            "Cilium balances pod traffic to ClusterIPs itself and ignores sessionAffinity here: \
             enable-session-affinity is not true in {}/cilium-config (the kube-proxy \
             replacement turns it on)",
            cilium.namespace
        )
    })
}
