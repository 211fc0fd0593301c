//! Recognising why Multus could not attach a pod, from the kubelet's FailedCreatePodSandBox
//! event, so a wrong `master` or a full range is named as such instead of quoted as a CNI error.
//!
//! The texts are upstream's (containernetworking/plugins 1.1 to 1.6): ipvlan says `failed to
//! lookup master %q: Link not found`; macvlan reads the master's MTU first and returns
//! netlink's bare `Link not found`, which names no interface; host-local says `no IP addresses
//! available in range set: %s` (ranges as `START-END`, comma-separated). Multus wraps them as
//! `[NS/POD/UID:NAD]: error adding container to network %q: %v`.

/// A Multus attachment failure cnicheck can explain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxFailure {
    MasterNotFound {
        network: Option<String>,
        /// `None` when the message does not say (macvlan): see [`SandboxFailure::with_master`].
        master: Option<String>,
    },
    RangeExhausted {
        network: Option<String>,
        range: String,
    },
}

impl SandboxFailure {
    /// The failure in a sandbox event's message, if it is one of these.
    pub fn recognise(message: &str) -> Option<Self> {
        let network = quoted_after(message, "error adding container to network ");
        if let Some(master) = quoted_after(message, "failed to lookup master ") {
            return Some(SandboxFailure::MasterNotFound {
                network,
                master: Some(master),
            });
        }
        // The only link macvlan looks up by name before creating one is its master.
        if let Some(network) = &network
            && message.contains(&format!("network \"{network}\": Link not found"))
        {
            return Some(SandboxFailure::MasterNotFound {
                network: Some(network.clone()),
                master: None,
            });
        }
        let (_, rest) = message.split_once("no IP addresses available in range set: ")?;
        let range = rest
            .split(|c: char| c.is_whitespace() || c == '"' || c == ';')
            .next()
            .unwrap_or_default()
            .trim_end_matches(['.', ','])
            .to_owned();
        Some(SandboxFailure::RangeExhausted { network, range })
    }

    /// The failure with the master interface named, if the message did not name it.
    pub fn with_master(self, master: impl FnOnce(&str) -> Option<String>) -> Self {
        match self {
            SandboxFailure::MasterNotFound {
                network: Some(network),
                master: None,
            } => SandboxFailure::MasterNotFound {
                master: master(&network),
                network: Some(network),
            },
            other => other,
        }
    }

    /// Whether it can clear by itself: addresses are freed as other pods go away, a missing
    /// interface does not appear.
    pub fn may_clear(&self) -> bool {
        matches!(self, SandboxFailure::RangeExhausted { .. })
    }

    /// What happened on `node` and how to fix it, on one line.
    pub fn describe(&self, node: Option<&str>) -> String {
        let nad = |network: &Option<String>| {
            format!("Multus NAD {}", network.as_deref().unwrap_or("(unnamed)"))
        };
        match self {
            SandboxFailure::MasterNotFound { network, master } => format!(
                "{}: master interface {} not found on node {}; fix: set --multus-master (or \
                 the NAD's `master`) to the nodes' secondary interface, as `ip link` on the node \
                 names it",
                nad(network),
                master.as_deref().unwrap_or("(the NAD's master)"),
                node.unwrap_or("(unknown)")
            ),
            SandboxFailure::RangeExhausted { network, range } => format!(
                "{}: IPAM range exhausted (range {range}); fix: widen --multus-range (or the \
                 NAD's IPAM range) to at least one address per attached pod, or free the \
                 addresses other pods hold",
                nad(network)
            ),
        }
    }
}

/// The text between double quotes right after `marker` (Go's `%q` of a plain name).
fn quoted_after(message: &str, marker: &str) -> Option<String> {
    let (_, rest) = message.split_once(marker)?;
    let rest = rest
        .strip_prefix('"')
        .or_else(|| rest.strip_prefix("\\\""))?;
    let end = rest.find(['"', '\\'])?;
    Some(rest[..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Verbatim from the cnicheck testbed (Multus 4.2, plugins 1.1.1).
    const MACVLAN_MASTER: &str = "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"c7277dc3669669fe3bcaffda94872b9c1bff7c0985a0b19716d7ace0cd4510fd\": plugin type=\"multus\" name=\"multus-cni-network\" failed (add): [cnicheck-tow8n8fvkx-s0/peer-0/a9f148f4-c58a-4419-af13-8fd379b15d08:cnicheck-macvlan]: error adding container to network \"cnicheck-macvlan\": Link not found";
    // ipvlan's wording of the same, from its source.
    const IPVLAN_MASTER: &str = "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"5b3c0e\": plugin type=\"multus\" name=\"multus-cni-network\" failed (add): [cnicheck-t0-s0/peer-0/8e1f2a3b-1c2d-4e5f-8a9b-0c1d2e3f4a5b:cnicheck-ipvlan]: error adding container to network \"cnicheck-ipvlan\": failed to lookup master \"eth9\": Link not found";
    // Multus' wrapping around host-local's words (`failed to allocate for range %d: %v`).
    const EXHAUSTED: &str = "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"9a7d21\": plugin type=\"multus\" name=\"multus-cni-network\" failed (add): [cnicheck-t0-s0/peer-1/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e:cnicheck-macvlan]: error adding container to network \"cnicheck-macvlan\": failed to allocate for range 0: no IP addresses available in range set: 10.202.0.150-10.202.0.150";

    #[test]
    fn a_missing_master_is_named_with_nad_and_node() {
        let failure = SandboxFailure::recognise(IPVLAN_MASTER).unwrap();
        assert_eq!(
            failure,
            SandboxFailure::MasterNotFound {
                network: Some("cnicheck-ipvlan".into()),
                master: Some("eth9".into())
            }
        );
        assert!(!failure.may_clear());
        let unchanged = failure.clone().with_master(|_| Some("other".into()));
        assert!(
            unchanged
                .describe(Some("testbed-node1"))
                .starts_with("Multus NAD cnicheck-ipvlan: master interface eth9 not found on node testbed-node1; fix: set --multus-master")
        );
    }

    #[test]
    fn macvlan_names_no_master_so_the_nad_is_asked() {
        let failure = SandboxFailure::recognise(MACVLAN_MASTER).unwrap();
        assert_eq!(
            failure,
            SandboxFailure::MasterNotFound {
                network: Some("cnicheck-macvlan".into()),
                master: None
            }
        );
        assert!(
            failure
                .clone()
                .describe(Some("testbed-node2"))
                .starts_with("Multus NAD cnicheck-macvlan: master interface (the NAD's master) not found on node testbed-node2")
        );
        let named = failure.with_master(|network| {
            assert_eq!(network, "cnicheck-macvlan");
            Some("eth9".into())
        });
        assert!(named.describe(Some("testbed-node2")).starts_with(
            "Multus NAD cnicheck-macvlan: master interface eth9 not found on node testbed-node2"
        ));
    }

    #[test]
    fn an_exhausted_range_is_named_with_the_range() {
        let failure = SandboxFailure::recognise(EXHAUSTED).unwrap();
        assert_eq!(
            failure,
            SandboxFailure::RangeExhausted {
                network: Some("cnicheck-macvlan".into()),
                range: "10.202.0.150-10.202.0.150".into()
            }
        );
        assert!(
            failure
                .describe(None)
                .starts_with("Multus NAD cnicheck-macvlan: IPAM range exhausted (range 10.202.0.150-10.202.0.150); fix: widen --multus-range")
        );
    }

    #[test]
    fn other_sandbox_errors_are_not_recognised() {
        let unrelated = "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"1f\": plugin type=\"ptp\" failed (add): failed to allocate for range 0: requested IP address 10.244.1.5 is not available";
        assert_eq!(SandboxFailure::recognise(unrelated), None);
        // Without Multus' wrapping the plugin's own text still counts.
        let bare = "failed to lookup master \"ens5\": Link not found";
        assert_eq!(
            SandboxFailure::recognise(bare),
            Some(SandboxFailure::MasterNotFound {
                network: None,
                master: Some("ens5".into())
            })
        );
    }
}
