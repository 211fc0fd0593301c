//! What each Cilium agent says of encryption between nodes (`cilium-dbg encrypt status -o
//! json`), read once per run for the report's facts about the cluster: what users check by hand
//! with `cilium status | grep Encryption`.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::join_all;
use kube::Client;
use serde::Deserialize;

use super::cilium::{AGENT_CONTAINER, CiliumInstall};
use super::exec;

const ENCRYPT_STATUS_COMMAND: [&str; 5] = ["cilium-dbg", "encrypt", "status", "-o", "json"];
/// Per agent: the status is read from the agent's memory, in well under a second.
const ENCRYPT_STATUS_DEADLINE: Duration = Duration::from_secs(10);

/// Cilium's `EncryptionStatus` (api/v1/models), the fields used here.
#[derive(Debug, Deserialize)]
struct EncryptionStatus {
    mode: String,
    #[serde(default)]
    wireguard: Option<WireguardStatus>,
    #[serde(default)]
    msg: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireguardStatus {
    #[serde(default)]
    interfaces: Vec<WireguardInterface>,
    #[serde(default, rename = "node-encryption")]
    node_encryption: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireguardInterface {
    name: String,
    #[serde(default, rename = "peer-count")]
    peer_count: u64,
}

/// Each agent's encryption status in words, by its node (`Disabled`, `Wireguard (cilium_wg0: 1
/// peer; node encryption Disabled)`), or why it could not be read.
pub async fn encryption_status(
    client: &Client,
    cilium: &CiliumInstall,
) -> BTreeMap<String, String> {
    let asked = cilium.agent.pods.iter().map(|agent| async move {
        let node = agent.node.clone().unwrap_or_else(|| agent.pod.name.clone());
        let status = match exec::run_command(
            client,
            &agent.pod,
            AGENT_CONTAINER,
            &ENCRYPT_STATUS_COMMAND,
            ENCRYPT_STATUS_DEADLINE,
        )
        .await
        {
            Ok(stdout) => describe(&stdout),
            Err(failed) => format!("unknown ({failed})"),
        };
        (node, status)
    });
    join_all(asked).await.into_iter().collect()
}

fn describe(stdout: &[u8]) -> String {
    let status: EncryptionStatus = match serde_json::from_slice(stdout) {
        Ok(status) => status,
        Err(error) => {
            return format!("unknown (cilium-dbg encrypt status printed no status: {error})");
        }
    };
    let mut details = Vec::new();
    if let Some(wireguard) = &status.wireguard {
        details.extend(wireguard.interfaces.iter().map(|interface| {
            let peers = interface.peer_count;
            format!(
                "{}: {peers} peer{}",
                interface.name,
                if peers == 1 { "" } else { "s" }
            )
        }));
        if let Some(node_encryption) = &wireguard.node_encryption {
            details.push(format!("node encryption {node_encryption}"));
        }
    }
    if let Some(message) = status.msg.filter(|message| !message.is_empty()) {
        details.push(message);
    }
    if details.is_empty() {
        status.mode
    } else {
        format!("{} ({})", status.mode, details.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_as_cilium_prints_them() {
        // cilium-dbg 1.17.6 on the testbed.
        assert_eq!(describe(br#"{"mode": "Disabled"}"#), "Disabled");
        let wireguard = br#"{"mode":"Wireguard","wireguard":{"interfaces":[{"name":"cilium_wg0",
            "public-key":"x","listening-port":51871,"peer-count":2}],"node-encryption":"Disabled"}}"#;
        assert_eq!(
            describe(wireguard),
            "Wireguard (cilium_wg0: 2 peers; node encryption Disabled)"
        );
        assert!(describe(b"Encryption: Disabled").starts_with("unknown (cilium-dbg"));
    }
}
