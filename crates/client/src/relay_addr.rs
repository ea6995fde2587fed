//! Where a relay is: the `host:port` an invite link carries, and the
//! websocket URL and origin derived from it.

/// A relay address, `host` or `host:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayAddr(String);

impl RelayAddr {
    /// Parse `host[:port]`, or a `ws://` / `wss://` URL (its path is ignored).
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text
            .strip_prefix("ws://")
            .or_else(|| text.strip_prefix("wss://"))
            .unwrap_or(text);
        let host = rest.split('/').next().unwrap_or_default();
        let ok = !host.is_empty()
            && host.len() <= 255
            && host.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
            });
        ok.then(|| RelayAddr(host.to_owned()))
    }

    /// `host[:port]`, as invite links carry it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Loopback relays speak plain websockets; every other relay TLS.
    fn secure(&self) -> bool {
        let host = if let Some(rest) = self.0.strip_prefix('[') {
            rest.split(']').next().unwrap_or_default()
        } else {
            self.0.rsplit_once(':').map_or(self.0.as_str(), |(h, _)| h)
        };
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        !loopback
    }

    /// The origin this device signs when it authenticates.
    pub fn origin(&self) -> String {
        let scheme = if self.secure() { "wss" } else { "ws" };
        format!("{scheme}://{}", self.0)
    }

    /// The sync endpoint.
    pub fn url(&self) -> String {
        format!("{}/v1/sync", self.origin())
    }
}

impl std::fmt::Display for RelayAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_plain_and_the_rest_is_tls() {
        let local = RelayAddr::parse("ws://127.0.0.1:4040/v1/sync").expect("valid");
        assert_eq!(local.as_str(), "127.0.0.1:4040");
        assert_eq!(local.url(), "ws://127.0.0.1:4040/v1/sync");
        assert_eq!(local.origin(), "ws://127.0.0.1:4040");
        let remote = RelayAddr::parse("relay.example.org").expect("valid");
        assert_eq!(remote.url(), "wss://relay.example.org/v1/sync");
        assert!(RelayAddr::parse("").is_none());
        assert!(
            RelayAddr::parse("127.evil.example")
                .expect("valid")
                .url()
                .starts_with("wss://")
        );
        assert!(
            RelayAddr::parse("[::1]:80")
                .expect("valid")
                .url()
                .starts_with("ws://")
        );
        assert!(
            RelayAddr::parse("[::1]")
                .expect("valid")
                .url()
                .starts_with("ws://")
        );
        assert!(RelayAddr::parse("bad host!").is_none());
    }
}
