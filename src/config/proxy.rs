//! `[proxy_protocol]`: which peers are trusted load balancers, and on which listeners they
//! send a PROXY protocol header (see `proxy_protocol` for what ferryd does with it).

use std::net::IpAddr;

use ipnet::IpNet;

/// `[proxy_protocol]`, validated. With no trusted network the feature is off everywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyProtocolConfig {
    /// Peers in these networks are proxies: on a listener whose switch is on they must start
    /// with a header; from any other peer a header is never accepted.
    pub trusted_networks: Vec<IpNet>,
    /// The explicit FTPS (`AUTH TLS`) control listener expects a header.
    pub ftps: bool,
    /// The implicit FTPS listener expects a header.
    pub ftps_implicit: bool,
    /// The SFTP listener expects a header.
    pub sftp: bool,
    /// Passive FTP data connections expect a header (HAProxy's `send-proxy` on the passive
    /// port range); off by default, because many setups forward data ports without it.
    pub ftps_data: bool,
}

/// The kinds of listening socket `[proxy_protocol]` has a switch for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyListener {
    /// `ftps.listen`.
    Ftps,
    /// `ftps.implicit_listen`.
    FtpsImplicit,
    /// `sftp.listen`.
    Sftp,
    /// The passive data ports (`ftps.passive_ports`).
    FtpsData,
}

impl ProxyProtocolConfig {
    /// Whether a connection from `peer` on `listener` must start with a header.
    pub fn expects_header(&self, listener: ProxyListener, peer: IpAddr) -> bool {
        let switched_on = match listener {
            ProxyListener::Ftps => self.ftps,
            ProxyListener::FtpsImplicit => self.ftps_implicit,
            ProxyListener::Sftp => self.sftp,
            ProxyListener::FtpsData => self.ftps_data,
        };
        switched_on && self.is_trusted(peer)
    }

    /// Whether `peer` is in `trusted_networks`.
    pub fn is_trusted(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.trusted_networks
            .iter()
            .any(|network| network.contains(&peer))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    fn parse(text: &str) -> Result<Config, crate::config::ConfigError> {
        Config::parse(text, Path::new("ferryd.toml"))
    }

    #[test]
    fn off_by_default_and_on_per_listener_for_trusted_peers() {
        let defaults = Config::default().proxy_protocol;
        assert!(defaults.trusted_networks.is_empty());
        let loopback: IpAddr = "127.0.0.9".parse().unwrap();
        assert!(!defaults.expects_header(ProxyListener::Ftps, loopback));
        let config = parse(
            "[proxy_protocol]\ntrusted_networks = [\"127.0.0.9/32\", \"10.0.0.0/8\"]\nsftp = false\n",
        )
        .unwrap()
        .proxy_protocol;
        assert!(config.expects_header(ProxyListener::Ftps, loopback));
        assert!(config.expects_header(ProxyListener::FtpsImplicit, "10.1.2.3".parse().unwrap()));
        assert!(
            !config.expects_header(ProxyListener::Sftp, loopback),
            "switched off"
        );
        assert!(
            !config.expects_header(ProxyListener::FtpsData, loopback),
            "off by default"
        );
        assert!(!config.expects_header(ProxyListener::Ftps, "127.0.0.1".parse().unwrap()));
        assert!(
            config.expects_header(ProxyListener::Ftps, "::ffff:127.0.0.9".parse().unwrap()),
            "a mapped address is the IPv4 one"
        );
    }

    #[test]
    fn a_bad_network_is_an_error_naming_the_key() {
        let error = parse("[proxy_protocol]\ntrusted_networks = [\"10.0.0.0/33\"]\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("proxy_protocol.trusted_networks"), "{error}");
        assert!(error.contains("10.0.0.0/33"), "{error}");
        let error = parse("[proxy_protocol]\ntrusted = []\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("trusted"), "{error}");
    }
}
