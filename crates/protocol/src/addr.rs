//! Where a relay is: the one parser and validator of relay addresses, used
//! by invite links, the client's store and the relay's own configured origin.
//!
//! An address is `host[:port]`, optionally with its scheme:
//! `wss://host[:port]` (TLS) or `ws://host[:port]` (plain). Without a
//! scheme, a loopback host (`localhost`, `127.0.0.0/8`, `[::1]`) is plain and
//! every other host is TLS. The scheme is kept only where it departs from
//! that rule (`ws://` to another machine, `wss://` to loopback), and a port
//! is kept only where it departs from the scheme's default (80, 443), so one
//! relay has one canonical spelling: `wss://relay.example.org:443/v1/sync`,
//! `relay.example.org` and `RELAY.example.org` are the same address.
//!
//! Hosts are DNS names (letters, digits and `-` in labels of 1 to 63, at
//! most 253 characters, not ending in an all-digit label), IPv4 literals or
//! bracketed IPv6 literals.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Longest accepted relay address text.
pub const MAX_ADDR_LEN: usize = 255;

/// Why a relay address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddrError {
    /// Empty, or longer than [`MAX_ADDR_LEN`].
    #[error("a relay address needs 1 to {MAX_ADDR_LEN} characters")]
    Length,
    /// A scheme other than `ws://` or `wss://`.
    #[error("a relay address starts with wss:// or ws://, or with its host")]
    Scheme,
    /// The host is not a DNS name, an IPv4 literal or a bracketed IPv6 literal.
    #[error("its host `{0}` is not a name such as relay.example.org, nor an IP address")]
    Host(String),
    /// The port is not a number from 1 to 65535.
    #[error("its port `{0}` is not a number from 1 to 65535")]
    Port(String),
}

/// The host part of an address.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Host {
    Name(String),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::V4(ip) => write!(f, "{ip}"),
            Host::V6(ip) => write!(f, "[{ip}]"),
        }
    }
}

/// A relay's address (see the module docs for the forms and the rule).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelayAddr {
    host: Host,
    /// Whether the connection uses TLS.
    tls: bool,
    /// The port, if it is not the scheme's default.
    port: Option<u16>,
}

fn parse_host(text: &str) -> Result<Host, AddrError> {
    let bad = || AddrError::Host(text.to_owned());
    if let Some(inner) = text.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or_else(bad)?;
        return inner.parse::<Ipv6Addr>().map(Host::V6).map_err(|_| bad());
    }
    if let Ok(ip) = text.parse::<Ipv4Addr>() {
        return Ok(Host::V4(ip));
    }
    let name = text.to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let numeric_tail = labels
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
    if name.len() > 253 || !labels.iter().all(label_ok) || numeric_tail {
        return Err(bad());
    }
    Ok(Host::Name(name))
}

impl RelayAddr {
    /// Parses `[ws://|wss://]host[:port][/path]` (a path, as in a pasted
    /// websocket URL, is ignored).
    pub fn parse(text: &str) -> Result<Self, AddrError> {
        if text.is_empty() || text.len() > MAX_ADDR_LEN {
            return Err(AddrError::Length);
        }
        let (scheme, rest) = match text.split_once("://") {
            Some(("wss", rest)) => (Some(true), rest),
            Some(("ws", rest)) => (Some(false), rest),
            Some(_) => return Err(AddrError::Scheme),
            None => (None, text),
        };
        let authority = rest.split('/').next().unwrap_or_default();
        let (host, port) = if authority.starts_with('[') {
            match authority.split_once("]:") {
                Some((h, p)) => (format!("{h}]"), Some(p)),
                None => (authority.to_owned(), None),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (authority.to_owned(), None),
            }
        };
        let host = parse_host(&host)?;
        let port = match port {
            None => None,
            Some(p) => {
                let n = (p.len() <= 5 && !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| p.parse::<u16>().ok())
                    .flatten()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| AddrError::Port(p.to_owned()))?;
                Some(n)
            }
        };
        let tls = scheme.unwrap_or_else(|| !is_loopback(&host));
        let default_port = if tls { 443 } else { 80 };
        Ok(RelayAddr {
            host,
            tls,
            port: port.filter(|p| *p != default_port),
        })
    }

    /// Whether the connection uses TLS (`wss://`).
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// Whether the host is this machine (`localhost`, `127.0.0.0/8`, `::1`).
    pub fn is_loopback(&self) -> bool {
        is_loopback(&self.host)
    }

    /// A plain (`ws://`) connection to another machine: the journal stays
    /// end-to-end encrypted, but who syncs what, when, is visible on the
    /// network.
    pub fn is_unencrypted_remote(&self) -> bool {
        !self.tls && !self.is_loopback()
    }

    /// The host, as written in URLs (IPv6 in brackets), lower case.
    pub fn host(&self) -> String {
        self.host.to_string()
    }

    /// The port the connection goes to.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(if self.tls { 443 } else { 80 })
    }

    /// The origin the device signs when it authenticates:
    /// `wss://host[:port]` or `ws://host[:port]`, the port only when it is
    /// not the scheme's default.
    pub fn origin(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        match self.port {
            Some(p) => format!("{scheme}://{}:{p}", self.host),
            None => format!("{scheme}://{}", self.host),
        }
    }

    /// The websocket URL of the sync endpoint.
    pub fn url(&self) -> String {
        format!("{}/v1/sync", self.origin())
    }
}

fn is_loopback(host: &Host) -> bool {
    match host {
        Host::Name(n) => n == "localhost",
        Host::V4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::V6(ip) => ip.is_loopback(),
    }
}

/// The canonical text: what invite links carry and stores key by.
impl fmt::Display for RelayAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.tls == is_loopback(&self.host) {
            // The scheme departs from the rule: keep it.
            return f.write_str(&self.origin());
        }
        match self.port {
            Some(p) => write!(f, "{}:{p}", self.host),
            None => write!(f, "{}", self.host),
        }
    }
}

impl FromStr for RelayAddr {
    type Err = AddrError;
    fn from_str(s: &str) -> Result<Self, AddrError> {
        Self::parse(s)
    }
}

impl serde::Serialize for RelayAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for RelayAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn addr(s: &str) -> RelayAddr {
        RelayAddr::parse(s).unwrap()
    }

    #[test]
    fn loopback_is_plain_and_the_rest_is_tls() {
        let local = addr("ws://127.0.0.1:4040/v1/sync");
        assert_eq!(local.to_string(), "127.0.0.1:4040");
        assert_eq!(local.url(), "ws://127.0.0.1:4040/v1/sync");
        assert_eq!(local.origin(), "ws://127.0.0.1:4040");
        let remote = addr("relay.example.org");
        assert_eq!(remote.url(), "wss://relay.example.org/v1/sync");
        assert!(addr("127.evil.example").tls());
        assert!(!addr("[::1]:80").tls());
        assert!(!addr("[::1]").tls());
        assert!(!addr("localhost:7878").tls());
        assert!(!addr("127.1.2.3").tls());
    }

    #[test]
    fn an_explicit_scheme_wins_and_is_kept_only_where_it_departs_from_the_rule() {
        let tls_local = addr("wss://localhost:8443");
        assert!(tls_local.tls());
        assert_eq!(tls_local.to_string(), "wss://localhost:8443");
        assert_eq!(tls_local.origin(), "wss://localhost:8443");
        assert_eq!(addr(&tls_local.to_string()), tls_local);
        let plain_remote = addr("ws://relay.example.org:8080");
        assert!(plain_remote.is_unencrypted_remote());
        assert_eq!(plain_remote.to_string(), "ws://relay.example.org:8080");
        assert_eq!(addr(&plain_remote.to_string()), plain_remote);
        // The rule's own scheme is dropped, as is the default port.
        assert_eq!(
            addr("wss://Relay.Example.org:443/v1/sync").to_string(),
            "relay.example.org"
        );
        assert_eq!(
            addr("relay.example.org:443"),
            addr("wss://relay.example.org")
        );
        assert_eq!(addr("ws://127.0.0.1:80").to_string(), "127.0.0.1");
        assert_eq!(addr("ws://[::1]:9000").to_string(), "[::1]:9000");
        assert_eq!(addr("ws://[::1]:9000").url(), "ws://[::1]:9000/v1/sync");
    }

    #[test]
    fn bad_addresses_are_refused_with_their_reason() {
        let cases = [
            ("", AddrError::Length),
            ("bad host!", AddrError::Host("bad host!".into())),
            ("http://relay.example.org", AddrError::Scheme),
            ("relay.example.org:0", AddrError::Port("0".into())),
            ("relay.example.org:65536", AddrError::Port("65536".into())),
            ("relay.example.org:+80", AddrError::Port("+80".into())),
            ("relay.example.org:", AddrError::Port("".into())),
            (
                "-relay.example.org",
                AddrError::Host("-relay.example.org".into()),
            ),
            (
                "relay..example.org",
                AddrError::Host("relay..example.org".into()),
            ),
            ("999.1.1.1", AddrError::Host("999.1.1.1".into())),
            ("[::1", AddrError::Host("[::1".into())),
            ("[nope]:80", AddrError::Host("[nope]".into())),
            ("wss://", AddrError::Host("".into())),
        ];
        for (text, want) in cases {
            assert_eq!(RelayAddr::parse(text), Err(want), "{text}");
        }
        assert_eq!(RelayAddr::parse(&"a".repeat(300)), Err(AddrError::Length));
    }
}
