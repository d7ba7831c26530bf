//! The address policy: by default only globally routable addresses are
//! dialled. Loopback, private, link-local, CGNAT, multicast, documentation
//! and other special-purpose ranges are refused, which keeps a watch list
//! (or, later, an API user) from reaching into the machine's own network.
//!
//! The check runs on the IPs that are actually dialled ([`PolicyResolver`]
//! filters DNS answers), and separately on IP-literal hosts, which bypass
//! any resolver, on the first request and on every redirect hop.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// True when `ip` is a globally routable unicast address.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_global_v4(v4);
            }
            is_global_v6(v6)
        }
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0                                   // "this network"
        || (a == 100 && (64..128).contains(&b))     // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0)           // IETF protocol assignments
        || (a == 192 && b == 88 && c == 99)         // 6to4 relay anycast
        || (a == 198 && (b == 18 || b == 19))       // benchmarking 198.18/15
        || a >= 240) // reserved and broadcast
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (seg[0] & 0xfe00) == 0xfc00                     // unique local fc00::/7
        || (seg[0] & 0xffc0) == 0xfe80                     // link-local fe80::/10
        || (seg[0] & 0xffc0) == 0xfec0                     // site-local (deprecated)
        || (seg[0] == 0x2001 && seg[1] == 0x0db8)          // documentation
        || (seg[0] == 0x0064 && seg[1] == 0xff9b)          // NAT64 (may reach private v4)
        || (seg[0] == 0x0100 && seg[1] == 0 && seg[2] == 0 && seg[3] == 0) // discard
        || (seg[0] == 0x2002)                              // 6to4 (embeds any v4)
        || (seg[0] == 0x2001 && seg[1] < 0x0200) // IETF assignments incl. Teredo
        || ip.to_ipv4().is_some()) // IPv4-compatible ::a.b.c.d
}

/// A refusal, naming the host, the address and the key that lifts it.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "refused to connect to {host} at {ip}: it is not a public address (set `allow_private_networks = true` under [fetch] to allow it)"
)]
pub struct Refused {
    pub host: String,
    pub ip: IpAddr,
}

/// Checks an IP-literal host. Names are checked by the resolver.
pub fn check_url(
    url: &url::Url,
    allow_private: bool,
    allow_hosts: &[String],
) -> Result<(), Refused> {
    if allow_private || url.host_str().is_some_and(|h| host_allowed(h, allow_hosts)) {
        return Ok(());
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        _ => return Ok(()),
    };
    if is_global(ip) {
        Ok(())
    } else {
        Err(Refused {
            host: url.host_str().unwrap_or_default().to_string(),
            ip,
        })
    }
}

fn host_allowed(host: &str, allow_hosts: &[String]) -> bool {
    let host = host.trim_matches(['[', ']']).trim_end_matches('.');
    allow_hosts.iter().any(|a| a.eq_ignore_ascii_case(host))
}

/// A DNS failure, kept apart from refusals so errors say which happened.
#[derive(Debug, thiserror::Error)]
#[error("could not resolve {host}: {reason}")]
pub struct DnsFailure {
    pub host: String,
    pub reason: String,
}

/// Resolves with the system resolver and drops every address the policy
/// refuses; a name with only refused addresses fails with [`Refused`].
#[derive(Debug, Clone)]
pub struct PolicyResolver {
    pub allow_private: bool,
    pub allow_hosts: Vec<String>,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private || host_allowed(name.as_str(), &self.allow_hosts);
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> {
                    Box::new(DnsFailure {
                        host: host.clone(),
                        reason: e.to_string(),
                    })
                })?
                .collect();
            let allowed: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| allow_private || is_global(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(match addrs.first() {
                    Some(a) => Box::new(Refused { host, ip: a.ip() })
                        as Box<dyn std::error::Error + Send + Sync>,
                    None => Box::new(DnsFailure {
                        host,
                        reason: "no addresses".into(),
                    }),
                });
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

impl PolicyResolver {
    pub fn shared(allow_private: bool, allow_hosts: Vec<String>) -> Arc<PolicyResolver> {
        Arc::new(PolicyResolver {
            allow_private,
            allow_hosts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn classifies() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "192.0.2.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
            "::",
        ] {
            assert!(!is_global(ip(bad)), "{bad} must be refused");
        }
        for good in [
            "93.184.216.34",
            "1.1.1.1",
            "175.45.176.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_global(ip(good)), "{good} must be allowed");
        }
    }

    #[test]
    fn ip_literal_urls() {
        let u = url::Url::parse("http://127.0.0.1:8080/x").expect("url");
        let e = check_url(&u, false, &[]).expect_err("refused");
        assert!(e.to_string().contains("allow_private_networks = true"));
        assert!(check_url(&u, true, &[]).is_ok());
        assert!(check_url(&u, false, &["127.0.0.1".into()]).is_ok());
        let v6 = url::Url::parse("http://[::1]/").expect("url");
        assert!(check_url(&v6, false, &[]).is_err());
        assert!(check_url(&v6, false, &["::1".into()]).is_ok());
        let name = url::Url::parse("http://localhost/").expect("url");
        assert!(
            check_url(&name, false, &[]).is_ok(),
            "names are the resolver's job"
        );
    }
}
