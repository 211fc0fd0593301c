//! Multus secondary networks: the NetworkAttachmentDefinition cnicheck builds from the
//! `--multus-*` options ([`NadOptions`]), IPAM ranges ([`IpRange`], also read back from any NAD
//! with [`ipam_range`]), and the attachment failures cnicheck names ([`SandboxFailure`]).
//! Pure logic: the runner applies the NAD, the cluster module reads events.

mod failure;
mod nad;
mod range;

pub use failure::SandboxFailure;
pub use nad::{IpamError, NadOptions, Plugin, ipam_range, master_of};
pub use range::{IpRange, RangeError};

use std::net::IpAddr;

/// A text that is not an address range: `--multus-range`, or a whereabouts `range`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not an address range: {why} (write START-END/PREFIX, e.g. 192.168.50.100-192.168.50.199/24, or a subnet)"
)]
pub struct InvalidRange {
    pub text: String,
    pub why: RangeError,
}

#[derive(Debug, thiserror::Error)]
pub enum MultusError {
    #[error(transparent)]
    InvalidRange(#[from] InvalidRange),
    #[error(
        "--multus-master `{0}` is not an interface name (1 to 15 characters, no spaces or `/`)"
    )]
    InvalidMaster(String),
    #[error("--multus-mode `{mode}` is not a {plugin} mode (one of {modes})")]
    InvalidMode {
        mode: String,
        plugin: &'static str,
        modes: String,
    },
    #[error("--multus-gateway {gateway} is outside the range's subnet {subnet}")]
    GatewayOutsideSubnet { gateway: IpAddr, subnet: String },
}
