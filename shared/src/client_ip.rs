//! The client's IP address, and CIDR ranges to match it against.
//!
//! With `trusted_hops: 0` the client is the peer of the connection
//! (Envoy's `source.address`). With `trusted_hops: N`, N proxies in front
//! of Envoy are trusted, each having appended the address it saw to
//! `x-forwarded-for`: the client is the N-th address from the right (all
//! `x-forwarded-for` headers joined in order). Anything left of it was
//! written by the client and is never believed. When the header holds fewer
//! than N addresses, or the chosen one is not an address, the client is
//! unknown (`None`): callers fail closed.

use crate::config::{ConfigError, Field};
use crate::http::RequestHead;
use std::net::{IpAddr, Ipv6Addr};

/// The client address under `trusted_hops`, from the request and the
/// connection's peer address (`ip:port`, `[v6]:port` or a bare address).
pub fn client_ip(head: &RequestHead, peer: Option<&str>, trusted_hops: usize) -> Option<IpAddr> {
    if trusted_hops == 0 {
        return peer.and_then(parse_addr);
    }
    let entries: Vec<&str> = head
        .all("x-forwarded-for")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let index = entries.len().checked_sub(trusted_hops)?;
    entries.get(index).and_then(|e| parse_addr(e))
}

/// An address with or without a port, IPv4-mapped IPv6 seen as IPv4.
pub fn parse_addr(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let ip = if let Some(rest) = s.strip_prefix('[') {
        rest.split(']').next()?.parse::<IpAddr>().ok()?
    } else if let Ok(ip) = s.parse::<IpAddr>() {
        ip
    } else {
        let (host, port) = s.rsplit_once(':')?;
        if !port.bytes().all(|b| b.is_ascii_digit()) || host.contains(':') {
            return None;
        }
        host.parse::<IpAddr>().ok()?
    };
    Some(canonical(ip))
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// An address range, `10.0.0.0/8`, `2001:db8::/32`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(field: &Field, s: &str) -> Result<Cidr, ConfigError> {
        let bad = || {
            field.error(format!(
                "{s:?} is not an address range such as \"10.0.0.0/8\" or \"2001:db8::/32\""
            ))
        };
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (s, None),
        };
        let network = canonical(addr.parse::<IpAddr>().map_err(|_| bad())?);
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        let cidr = Cidr { network, prefix };
        if cidr.masked(network) != network {
            return Err(field.error(format!(
                "{s:?} has bits set past the /{prefix} prefix; write the network address"
            )));
        }
        Ok(cidr)
    }

    fn masked(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4);
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4((bits & mask).into())
            }
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(bits & mask))
            }
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        ip.is_ipv4() == self.network.is_ipv4() && self.masked(ip) == self.network
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(xff: &[&str]) -> RequestHead {
        let pairs: Vec<(&str, &str)> = xff.iter().map(|v| ("x-forwarded-for", *v)).collect();
        RequestHead::from_pairs(&pairs)
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn trusted_hops_pick_from_the_right() {
        let h = head(&["6.6.6.6, 1.2.3.4", "10.0.0.1"]);
        assert_eq!(client_ip(&h, Some("10.0.0.9:443"), 0), ip("10.0.0.9"));
        assert_eq!(client_ip(&h, Some("10.0.0.9:443"), 1), ip("10.0.0.1"));
        assert_eq!(client_ip(&h, Some("10.0.0.9:443"), 2), ip("1.2.3.4"));
        assert_eq!(
            client_ip(&h, Some("10.0.0.9:443"), 4),
            None,
            "fewer entries than hops"
        );
        assert_eq!(client_ip(&head(&["junk"]), None, 1), None);
        assert_eq!(client_ip(&head(&[]), Some("[::1]:8080"), 0), ip("::1"));
        assert_eq!(client_ip(&head(&[]), None, 0), None);
        assert_eq!(
            client_ip(&head(&["::ffff:1.2.3.4"]), None, 1),
            ip("1.2.3.4")
        );
    }

    #[test]
    fn ranges() {
        let f = Field::root("cidrs");
        let c = Cidr::parse(&f, "10.0.0.0/8").unwrap();
        assert!(c.contains("10.255.0.1".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.2.3".parse().unwrap()));
        let v6 = Cidr::parse(&f, "2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        let one = Cidr::parse(&f, "192.0.2.7").unwrap();
        assert!(one.contains("192.0.2.7".parse().unwrap()));
        assert!(!one.contains("192.0.2.8".parse().unwrap()));
        assert!(Cidr::parse(&f, "0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        for bad in ["10.0.0.1/8", "10.0.0.0/33", "nope", "10.0.0.0/x", "::/129"] {
            assert!(Cidr::parse(&f, bad).is_err(), "{bad}");
        }
    }
}
