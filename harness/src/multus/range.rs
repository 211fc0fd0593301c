//! IPAM address ranges: parsed from `--multus-range` and read back from a NAD's CNI config.

use super::InvalidRange;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Why a text or an IPAM config does not make a range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("range {what} {address} is not in subnet {network}/{prefix}")]
    OutsideSubnet {
        what: &'static str,
        address: IpAddr,
        network: IpAddr,
        prefix: u8,
    },
    #[error("range start {start} is after its end {end}")]
    Reversed { start: IpAddr, end: IpAddr },
    #[error("`{0}` is not an IP address")]
    NotAnAddress(String),
    #[error("`{0}` has no prefix length (ADDRESS/PREFIX)")]
    NoPrefix(String),
    #[error("`{prefix}` is not a prefix length for {address}")]
    BadPrefix { prefix: String, address: IpAddr },
    #[error("the prefix length is missing (START-END/PREFIX)")]
    NoRangePrefix,
}

/// The addresses `start..=end` of one subnet, as host-local IPAM hands them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    pub start: IpAddr,
    pub end: IpAddr,
    pub prefix: u8,
}

impl IpRange {
    /// A range inside `subnet` (`ADDRESS/PREFIX`); without `start` or `end` it runs from the
    /// first host address to the last one, as host-local does (v4 excludes the broadcast).
    pub fn in_subnet(
        subnet: &str,
        start: Option<IpAddr>,
        end: Option<IpAddr>,
    ) -> Result<Self, RangeError> {
        let (network, prefix) = parse_cidr(subnet)?;
        let host_bits = u32::from(max_prefix(network) - prefix);
        let first = to_number(network) & !low_bits(host_bits);
        let mut last = first | low_bits(host_bits);
        if network.is_ipv4() && host_bits >= 2 {
            last -= 1;
        }
        let first_host = if host_bits >= 2 { first + 1 } else { first };
        let range = IpRange {
            start: start.unwrap_or_else(|| from_number(network, first_host)),
            end: end.unwrap_or_else(|| from_number(network, last)),
            prefix,
        };
        for (what, address) in [("start", range.start), ("end", range.end)] {
            if address.is_ipv4() != network.is_ipv4()
                || to_number(address) & !low_bits(host_bits) != first
            {
                return Err(RangeError::OutsideSubnet {
                    what,
                    address,
                    network: from_number(network, first),
                    prefix,
                });
            }
        }
        if to_number(range.start) > to_number(range.end) {
            return Err(RangeError::Reversed {
                start: range.start,
                end: range.end,
            });
        }
        Ok(range)
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        address.is_ipv4() == self.start.is_ipv4()
            && (to_number(self.start)..=to_number(self.end)).contains(&to_number(address))
    }

    /// `10.202.0.0/24`.
    pub fn subnet(&self) -> String {
        let host_bits = u32::from(max_prefix(self.start) - self.prefix);
        let network = to_number(self.start) & !low_bits(host_bits);
        format!("{}/{}", from_number(self.start, network), self.prefix)
    }
}

/// `START-END` as host-local writes ranges in its own messages; the subnet is [`IpRange::subnet`].
impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// `START-END/PREFIX` (`192.168.50.100-192.168.50.199/24`) or a whole subnet (`192.168.50.0/24`).
impl FromStr for IpRange {
    type Err = InvalidRange;

    fn from_str(text: &str) -> Result<Self, InvalidRange> {
        let invalid = |why: RangeError| InvalidRange {
            text: text.to_owned(),
            why,
        };
        let Some((start, rest)) = text.split_once('-') else {
            return IpRange::in_subnet(text, None, None).map_err(invalid);
        };
        let (end, prefix) = rest
            .split_once('/')
            .ok_or_else(|| invalid(RangeError::NoRangePrefix))?;
        let start: IpAddr = parse_address(start).map_err(invalid)?;
        let end: IpAddr = parse_address(end).map_err(invalid)?;
        IpRange::in_subnet(&format!("{start}/{prefix}"), Some(start), Some(end)).map_err(invalid)
    }
}

fn parse_address(text: &str) -> Result<IpAddr, RangeError> {
    text.trim()
        .parse()
        .map_err(|_| RangeError::NotAnAddress(text.to_owned()))
}

fn parse_cidr(text: &str) -> Result<(IpAddr, u8), RangeError> {
    let (address, prefix) = text
        .split_once('/')
        .ok_or_else(|| RangeError::NoPrefix(text.to_owned()))?;
    let address = parse_address(address)?;
    let prefix: u8 = prefix
        .trim()
        .parse()
        .ok()
        .filter(|prefix| *prefix <= max_prefix(address))
        .ok_or_else(|| RangeError::BadPrefix {
            prefix: prefix.to_owned(),
            address,
        })?;
    Ok((address, prefix))
}

fn max_prefix(address: IpAddr) -> u8 {
    if address.is_ipv4() { 32 } else { 128 }
}

fn low_bits(bits: u32) -> u128 {
    1u128.checked_shl(bits).map_or(u128::MAX, |bit| bit - 1)
}

fn to_number(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The address `number` in the family of `like`.
fn from_number(like: IpAddr, number: u128) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(u32::try_from(number).unwrap_or(u32::MAX))),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(number)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ranges_parse_with_or_without_bounds() {
        let range: IpRange = "10.202.0.100-10.202.0.199/24".parse().unwrap();
        assert_eq!(range.to_string(), "10.202.0.100-10.202.0.199");
        assert_eq!(range.subnet(), "10.202.0.0/24");
        assert!(range.contains(ip("10.202.0.105")));
        assert!(!range.contains(ip("10.202.0.99")) && !range.contains(ip("10.202.0.200")));
        assert!(!range.contains(ip("fd00::1")));

        let whole: IpRange = "192.168.50.0/24".parse().unwrap();
        assert_eq!(whole.to_string(), "192.168.50.1-192.168.50.254");
        let single: IpRange = "10.202.0.150-10.202.0.150/24".parse().unwrap();
        assert!(single.contains(ip("10.202.0.150")));
        let v6: IpRange = "fd00:202::/64".parse().unwrap();
        assert_eq!(v6.to_string(), "fd00:202::1-fd00:202::ffff:ffff:ffff:ffff");
    }

    #[test]
    fn bad_ranges_say_why() {
        for (text, why) in [
            ("10.202.0.100-10.202.0.199", "prefix length is missing"),
            (
                "10.202.0.100-10.202.1.5/24",
                "end 10.202.1.5 is not in subnet",
            ),
            (
                "10.202.0.199-10.202.0.100/24",
                "start 10.202.0.199 is after its end",
            ),
            ("10.202.0.300/24", "not an IP address"),
            ("10.202.0.0/33", "not a prefix length"),
            ("ens5", "has no prefix length"),
            ("10.202.0.1-fd00::5/24", "not in subnet"),
        ] {
            let error = text.parse::<IpRange>().unwrap_err().to_string();
            assert!(error.contains(why), "{text}: {error}");
            assert!(error.contains(text), "{error}");
        }
    }
}
