//! The client's real address (decision 16): the TCP peer, unless the peer is a trusted proxy,
//! in which case the forwarding headers it adds say who the client is. Pure: no I/O.
//!
//! Order of trust, for a trusted peer: `Forwarded` (RFC 7239 `for=`), else `X-Forwarded-For`,
//! else `X-Real-IP`, else the peer itself. In the two list headers each proxy appends the
//! address it received the request from, so only the right end of the list was written by
//! proxies we trust; everything left of the first untrusted hop may have been typed by the
//! client. We therefore walk from the right, skip hops that are themselves trusted proxies and
//! stop at the first one that is not: that is the client. If every hop is trusted, the
//! left-most one is the client (a client inside a trusted network). An entry that is no address
//! (`unknown`, an obfuscated `_id`, garbage) also ends the walk: nothing left of it can be
//! vouched for, so the nearest trusted hop we walked past is the answer, or, if there is none,
//! the header gives no answer and the next header is consulted.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;

/// An entry of `security.trusted_proxies` that is neither an IP address nor a CIDR block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{entry}` is not an IP address or CIDR block (e.g. 10.0.0.1, 10.0.0.0/8, fd00::/8)")]
pub struct InvalidProxyEntry {
    /// The offending entry, as written.
    pub entry: String,
}

/// The set of trusted proxies: IP addresses and CIDR blocks, IPv4 and IPv6.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    /// Parses `security.trusted_proxies`. A bare address is a one-address block.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, InvalidProxyEntry> {
        let nets = entries
            .iter()
            .map(|entry| {
                let text = entry.as_ref().trim();
                IpNet::from_str(text)
                    .or_else(|_| IpAddr::from_str(text).map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| InvalidProxyEntry {
                        entry: entry.as_ref().to_owned(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustedProxies { nets })
    }

    /// Whether no proxy is trusted (the default): then no header is ever consulted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether `ip` is a trusted proxy. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, what a
    /// dual-stack socket reports for an IPv4 peer) match IPv4 entries. A linear scan: lists
    /// are a handful of entries, and this runs once per connection, never per message.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// The client's address for a request that arrived from `peer` with `headers`
    /// (name, value pairs in arrival order; names in any case). Always canonical: an
    /// IPv4-mapped IPv6 address is reported as IPv4.
    pub fn resolve<'a, I>(&self, peer: IpAddr, headers: I) -> IpAddr
    where
        I: IntoIterator<Item = (&'a str, &'a str)> + Clone,
    {
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return peer;
        }
        let values = |name: &'static str| {
            headers
                .clone()
                .into_iter()
                .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        };
        let forwarded = values("forwarded")
            .flat_map(|v| v.split(','))
            .map(forwarded_for);
        if let Some(ip) = self.walk(forwarded.collect()) {
            return ip;
        }
        let xff = values("x-forwarded-for")
            .flat_map(|v| v.split(','))
            .map(|hop| parse_hop(hop.trim()));
        if let Some(ip) = self.walk(xff.collect()) {
            return ip;
        }
        values("x-real-ip")
            .last()
            .and_then(|v| parse_hop(v.trim()))
            .unwrap_or(peer)
    }

    /// The right-to-left walk described in the module header. `hops` holds one entry per list
    /// element, `None` where the element is not an address.
    fn walk(&self, hops: Vec<Option<IpAddr>>) -> Option<IpAddr> {
        let mut nearest_trusted = None;
        for hop in hops.into_iter().rev() {
            match hop {
                Some(ip) if self.is_trusted(ip) => nearest_trusted = Some(ip),
                Some(ip) => return Some(ip),
                None => break,
            }
        }
        nearest_trusted
    }
}

/// The `for=` address of one `Forwarded` element (`for=1.2.3.4;proto=https`), `None` when the
/// element has no `for=` or its node is `unknown`, obfuscated or malformed.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        parse_hop(value)
    })
}

/// One hop's address: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]` or
/// `[2001:db8::1]:443`. Anything else (`unknown`, `_hidden`, garbage) is `None`.
fn parse_hop(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = IpAddr::from_str(text) {
        return Some(ip.to_canonical());
    }
    if let Ok(addr) = SocketAddr::from_str(text) {
        return Some(addr.ip().to_canonical());
    }
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    std::net::Ipv6Addr::from_str(inner)
        .ok()
        .map(|ip| IpAddr::V6(ip).to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    fn trusted(entries: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(entries).expect("valid entries")
    }

    fn resolve(t: &TrustedProxies, peer: &str, headers: &[(&str, &str)]) -> IpAddr {
        t.resolve(ip(peer), headers.iter().copied())
    }

    #[test]
    fn parses_addresses_and_blocks_and_names_bad_entries() {
        let t = trusted(&[
            "10.0.0.1",
            " 192.168.0.0/16 ",
            "fd00::/8",
            "::1",
            "10.1.2.3/8",
        ]);
        assert!(t.is_trusted(ip("10.0.0.1")));
        // A block written with host bits set is taken as its network.
        assert!(t.is_trusted(ip("10.200.0.1")));
        assert!(t.is_trusted(ip("192.168.44.5")));
        assert!(t.is_trusted(ip("fd12::7")));
        assert!(t.is_trusted(ip("::1")));
        assert!(!t.is_trusted(ip("192.169.0.1")));
        assert!(!t.is_trusted(ip("fe80::1")));
        for bad in [
            "10.0.0.300",
            "proxy.example.com",
            "10.0.0.0/33",
            "",
            "1.2.3.4:80",
        ] {
            let err = TrustedProxies::parse(&[bad]).unwrap_err();
            assert_eq!(err.entry, bad);
        }
        assert!(
            TrustedProxies::parse::<&str>(&[])
                .expect("empty")
                .is_empty()
        );
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_entries_and_are_reported_as_ipv4() {
        let t = trusted(&["127.0.0.0/8"]);
        assert!(t.is_trusted(ip("::ffff:127.0.0.1")));
        assert!(!t.is_trusted(ip("::ffff:128.0.0.1")));
        // Untrusted mapped peer: reported as IPv4, headers ignored.
        assert_eq!(
            resolve(&t, "::ffff:203.0.113.9", &[("X-Forwarded-For", "1.1.1.1")]),
            ip("203.0.113.9")
        );
        // Trusted mapped peer: headers honoured, and a mapped address in them is IPv4 too.
        assert_eq!(
            resolve(
                &t,
                "::ffff:127.0.0.1",
                &[("X-Forwarded-For", "::ffff:198.51.100.4")]
            ),
            ip("198.51.100.4")
        );
    }

    #[test]
    fn untrusted_peers_headers_are_ignored() {
        let t = trusted(&["10.0.0.0/8"]);
        let spoof = [
            ("Forwarded", "for=1.2.3.4"),
            ("X-Forwarded-For", "1.2.3.4"),
            ("X-Real-IP", "1.2.3.4"),
        ];
        assert_eq!(resolve(&t, "203.0.113.7", &spoof), ip("203.0.113.7"));
        // With nothing trusted, no peer's headers count.
        assert_eq!(
            resolve(&TrustedProxies::default(), "10.0.0.1", &spoof),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn x_forwarded_for_takes_the_right_most_untrusted_hop() {
        let t = trusted(&["10.0.0.0/8", "2001:db8:ff::/48"]);
        // The client prepended a spoofed hop; the proxy appended the real one.
        let h = [("X-Forwarded-For", "6.6.6.6, 198.51.100.1, 10.0.0.5")];
        assert_eq!(resolve(&t, "10.0.0.9", &h), ip("198.51.100.1"));
        // Spaces, ports and bracketed IPv6 are accepted.
        let h = [("x-forwarded-for", "  [2001:db8::7]:4711 ,10.0.0.5:80 ")];
        assert_eq!(resolve(&t, "10.0.0.9", &h), ip("2001:db8::7"));
        let h = [("X-Forwarded-For", "198.51.100.2:5555")];
        assert_eq!(resolve(&t, "10.0.0.9", &h), ip("198.51.100.2"));
        // Several header lines form one list, in order.
        let h = [
            ("X-Forwarded-For", "6.6.6.6"),
            ("X-Forwarded-For", "198.51.100.3, 2001:db8:ff::1"),
        ];
        assert_eq!(resolve(&t, "10.0.0.9", &h), ip("198.51.100.3"));
        // All hops trusted: the left-most.
        let h = [("X-Forwarded-For", "10.1.1.1, 10.2.2.2")];
        assert_eq!(resolve(&t, "10.0.0.9", &h), ip("10.1.1.1"));
    }

    #[test]
    fn garbage_ends_the_walk_at_the_nearest_trusted_hop() {
        let t = trusted(&["10.0.0.0/8"]);
        // Garbage right of everything: the header says nothing, X-Real-IP is next.
        let h = [
            ("X-Forwarded-For", "1.2.3.4, not-an-ip"),
            ("X-Real-IP", "198.51.100.9"),
        ];
        assert_eq!(resolve(&t, "10.0.0.9", &h), ip("198.51.100.9"));
        // Garbage behind a trusted hop: that hop is as far as we can vouch.
        let h = [("X-Forwarded-For", "1.2.3.4, %%%, 10.0.0.5")];
        assert_eq!(resolve(&t, "10.0.0.9", &h), ip("10.0.0.5"));
        // Nothing usable anywhere: the peer.
        let h = [("X-Forwarded-For", ""), ("X-Real-IP", "garbage")];
        assert_eq!(resolve(&t, "10.0.0.9", &h), ip("10.0.0.9"));
        assert_eq!(resolve(&t, "10.0.0.9", &[]), ip("10.0.0.9"));
    }

    #[test]
    fn forwarded_wins_and_understands_rfc_7239() {
        let t = trusted(&["10.0.0.0/8"]);
        let h = [
            ("X-Forwarded-For", "198.51.100.1"),
            (
                "Forwarded",
                "for=6.6.6.6, For=\"[2001:db8:cafe::17]:4711\";proto=https;by=10.0.0.1",
            ),
            ("forwarded", "for=10.0.0.4"),
        ];
        assert_eq!(resolve(&t, "10.0.0.9", &h), ip("2001:db8:cafe::17"));
        let h = [(
            "Forwarded",
            "proto=http;for=192.0.2.60:47011;by=203.0.113.43",
        )];
        assert_eq!(resolve(&t, "10.0.0.9", &h), ip("192.0.2.60"));
        let h = [("Forwarded", "for=\"[2001:db8::1]\"")];
        assert_eq!(resolve(&t, "10.0.0.9", &h), ip("2001:db8::1"));
    }

    #[test]
    fn unknown_and_obfuscated_forwarded_nodes_are_ignored() {
        let t = trusted(&["10.0.0.0/8"]);
        // `unknown` as the right-most node: Forwarded gives nothing, X-Forwarded-For is used.
        let h = [
            ("Forwarded", "for=1.2.3.4, for=unknown"),
            ("X-Forwarded-For", "198.51.100.1"),
        ];
        assert_eq!(resolve(&t, "10.0.0.9", &h), ip("198.51.100.1"));
        let h = [
            ("Forwarded", "for=_hidden;proto=https"),
            ("X-Real-IP", "198.51.100.8"),
        ];
        assert_eq!(resolve(&t, "10.0.0.9", &h), ip("198.51.100.8"));
        // An element without `for=` is no address either.
        let h = [("Forwarded", "proto=https;by=10.0.0.1")];
        assert_eq!(resolve(&t, "10.0.0.9", &h), ip("10.0.0.9"));
    }

    #[test]
    fn x_real_ip_is_the_last_resort_before_the_peer() {
        let t = trusted(&["10.0.0.0/8"]);
        let h = [("X-Real-IP", " 198.51.100.7 ")];
        assert_eq!(resolve(&t, "10.0.0.9", &h), ip("198.51.100.7"));
        let h = [("X-Real-IP", "[2001:db8::9]:80")];
        assert_eq!(resolve(&t, "10.0.0.9", &h), ip("2001:db8::9"));
    }
}
