//! The addresses of one of the pod's own interfaces, read with `getifaddrs(3)` (netlink inside
//! libc, no NSS): what the kernel really gave the pod, to compare with what Multus recorded.

use std::net::IpAddr;

use nix::ifaddrs::getifaddrs;
use nix::sys::socket::SockaddrStorage;

use super::{ProbeOutcome, could_not_run};
use crate::probe::Outcome;

pub(super) fn probe(name: &str, bound_to: Option<&str>) -> ProbeOutcome {
    if bound_to.is_some() {
        return Err(could_not_run(
            "an interface probe reads the pod's own addresses and cannot be bound to an interface",
        ));
    }
    let entries = getifaddrs()
        .map_err(|error| could_not_run(format!("cannot list the pod's interfaces: {error}")))?;
    let mut exists = false;
    let mut addresses = Vec::new();
    // One entry per address, plus one for the link itself (AF_PACKET) even without addresses.
    for entry in entries.filter(|entry| entry.interface_name == name) {
        exists = true;
        if let Some(address) = entry.address.as_ref().and_then(ip_of)
            && let Some(prefix) = entry.netmask.as_ref().and_then(ip_of).map(prefix_length)
        {
            addresses.push(format!("{address}/{prefix}"));
        }
    }
    let name = name.to_owned();
    Ok(if exists {
        Outcome::InterfaceAddresses { name, addresses }
    } else {
        Outcome::NoSuchInterface { name }
    })
}

pub(super) fn ip_of(address: &SockaddrStorage) -> Option<IpAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(IpAddr::V4(v4.ip()));
    }
    address.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
}

fn prefix_length(netmask: IpAddr) -> u32 {
    match netmask {
        IpAddr::V4(mask) => u32::from(mask).count_ones(),
        IpAddr::V6(mask) => u128::from(mask).count_ones(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_has_its_address_and_unknown_interfaces_are_missing() {
        let Ok(Outcome::InterfaceAddresses { addresses, .. }) = probe("lo", None) else {
            panic!("lo exists everywhere");
        };
        assert!(
            addresses.contains(&"127.0.0.1/8".to_string()),
            "{addresses:?}"
        );
        assert_eq!(
            probe("cnicheck-none0", None),
            Ok(Outcome::NoSuchInterface {
                name: "cnicheck-none0".into()
            })
        );
        assert!(probe("lo", Some("eth0")).is_err());
    }
}
