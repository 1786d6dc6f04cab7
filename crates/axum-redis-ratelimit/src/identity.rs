//! Who a request comes from: the client address (believing forwarding headers only
//! from trusted proxies) and the API key's tier.

use std::net::{IpAddr, Ipv6Addr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client address of a request.
///
/// The peer is the client unless it is a trusted proxy. Then the forwarding chain
/// (`Forwarded` if present, else `X-Forwarded-For`) is read from the right, skipping
/// trusted proxies: the first untrusted address is the client, since everything to its
/// left was written by the client itself and may be forged. An unreadable entry stops
/// the walk at the last address that could be read.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let chain = forwarded_chain(headers);
    let mut client = peer;
    for entry in chain.iter().rev() {
        let Some(ip) = entry else {
            break;
        };
        client = *ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

/// The addresses of the forwarding chain, left to right; `None` for an entry that is
/// not an address (`unknown`, an obfuscated name, garbage).
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .map(|element| {
                element
                    .split(';')
                    .find_map(|pair| {
                        let (name, value) = pair.trim().split_once('=')?;
                        name.eq_ignore_ascii_case("for").then_some(value)
                    })
                    .and_then(parse_node)
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(parse_node)
        .collect()
}

/// Parses `192.0.2.1`, `192.0.2.1:8080`, `2001:db8::1`, `[2001:db8::1]:8080`, with or
/// without the quotes `Forwarded` puts around some of them.
fn parse_node(raw: &str) -> Option<IpAddr> {
    let s = raw.trim().trim_matches('"');
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let (host, port) = s.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// The id of a client without an API key, `ip:<address>`: an IPv4 address, or the /64
/// network of an IPv6 address (one host usually holds a whole /64, so limiting single
/// IPv6 addresses would let it rotate through billions of them).
pub fn client_id(ip: IpAddr) -> String {
    // IPv4 by hand: the Display of Ipv4Addr goes through the formatting machinery,
    // and this runs on every anonymous request.
    let v4 = |v4: std::net::Ipv4Addr| {
        let mut id = String::with_capacity(18);
        id.push_str("ip:");
        for (i, octet) in v4.octets().into_iter().enumerate() {
            if i > 0 {
                id.push('.');
            }
            super::headers::push_u64(&mut id, u64::from(octet));
        }
        id
    };
    match ip {
        IpAddr::V4(a) => v4(a),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(a) => v4(a),
            None => {
                let s = v6.segments();
                let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("ip:{net}/64")
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, value.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=5.6.7.8")]);
        assert_eq!(client_ip(ip("198.51.100.1"), &h, &[]), ip("198.51.100.1"));
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("198.51.100.1"), &h, &trusted),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_address_is_the_client() {
        let trusted = nets(&["10.0.0.0/8", "127.0.0.1/32"]);
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.1.1.1")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("203.0.113.7"));
        // Several header lines form one list.
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "203.0.113.8"),
        ]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("203.0.113.8"));
        // No header: the proxy itself is all we know.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &HeaderMap::new(), &trusted),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn forwarded_is_preferred_and_read_with_ports_quotes_and_ipv6() {
        let trusted = nets(&["127.0.0.1/32"]);
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.1"),
            (
                "forwarded",
                "for=6.6.6.6, for=\"[2001:db8:1:2::3]:4711\";proto=https",
            ),
        ]);
        assert_eq!(
            client_ip(ip("127.0.0.1"), &h, &trusted),
            ip("2001:db8:1:2::3")
        );
        let h = headers(&[("forwarded", "For=\"192.0.2.9:8080\"")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("192.0.2.9"));
    }

    #[test]
    fn an_unreadable_entry_stops_at_the_last_readable_hop() {
        let trusted = nets(&["127.0.0.1/32", "10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "203.0.113.1, garbage, 10.0.0.5")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("10.0.0.5"));
        let h = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("127.0.0.1"));
    }

    #[test]
    fn ipv6_clients_are_identified_by_their_64_network() {
        assert_eq!(client_id(ip("192.0.2.1")), "ip:192.0.2.1");
        assert_eq!(client_id(ip("0.10.255.100")), "ip:0.10.255.100");
        assert_eq!(
            client_id(ip("2001:db8:1:2:aaaa::1")),
            "ip:2001:db8:1:2::/64"
        );
        assert_eq!(
            client_id(ip("2001:db8:1:2:aaaa::1")),
            client_id(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_eq!(client_id(ip("::ffff:192.0.2.1")), "ip:192.0.2.1");
    }
}
