//! The serde mirror of `ferryd.toml`: raw values exactly as written, before validation.
//!
//! Never used outside `config`; `Config::load` turns it into typed values. Every table uses
//! `deny_unknown_fields` so a misspelt key is an error with its name, not a silent default.
//! Defaults live here, once, so `config/ferryd.toml` and `docs/configuration.md` describe
//! these values.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct File {
    pub server: ServerSection,
    pub ftps: FtpsSection,
    pub sftp: SftpSection,
    pub auth: AuthSection,
    pub log: LogSection,
    pub metrics: MetricsSection,
    pub defender: DefenderSection,
    pub sandbox: SandboxSection,
    pub s3: S3Section,
    pub proxy_protocol: ProxyProtocolSection,
    pub hooks: super::hooks::HooksSection,
    pub hook: Vec<super::hooks::RawHook>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct ServerSection {
    pub data_dir: String,
    pub state_dir: String,
    pub max_connections: i64,
    pub max_connections_per_ip: i64,
    pub max_sessions_per_user: i64,
    pub idle_timeout_secs: i64,
    pub login_timeout_secs: i64,
    pub shutdown_grace_secs: i64,
    pub bootstrap_user: String,
    pub leftover_uploads: String,
    pub leftover_uploads_dir: String,
    pub leftover_scan_interval_secs: i64,
    pub leftover_scan_max_entries: i64,
    pub umask: String,
}

impl Default for ServerSection {
    fn default() -> ServerSection {
        ServerSection {
            data_dir: "/var/lib/ferryd/data".to_owned(),
            state_dir: "/var/lib/ferryd/state".to_owned(),
            max_connections: 1000,
            max_connections_per_ip: 32,
            max_sessions_per_user: 0,
            idle_timeout_secs: 600,
            login_timeout_secs: 60,
            shutdown_grace_secs: 30,
            bootstrap_user: String::new(),
            leftover_uploads: "remove".to_owned(),
            leftover_uploads_dir: "leftover-uploads".to_owned(),
            leftover_scan_interval_secs: 3600,
            leftover_scan_max_entries: 1_000_000,
            umask: "022".to_owned(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct FtpsSection {
    pub enabled: bool,
    pub listen: String,
    pub implicit_listen: String,
    pub passive_ports: String,
    pub passive_address: String,
    pub passive_address_overrides: Vec<PassiveOverrideEntry>,
    pub require_tls: bool,
    pub require_tls_session_reuse: bool,
    pub tls_session_reuse_exempt_networks: Vec<String>,
    pub cert: String,
    pub key: String,
    pub active_mode: bool,
    pub data_timeout_secs: i64,
    pub banner: String,
}

impl Default for FtpsSection {
    fn default() -> FtpsSection {
        FtpsSection {
            enabled: true,
            listen: "0.0.0.0:21".to_owned(),
            implicit_listen: "0.0.0.0:990".to_owned(),
            passive_ports: "50000-50100".to_owned(),
            passive_address: String::new(),
            passive_address_overrides: Vec::new(),
            require_tls: true,
            require_tls_session_reuse: true,
            tls_session_reuse_exempt_networks: Vec::new(),
            cert: String::new(),
            key: String::new(),
            active_mode: false,
            data_timeout_secs: 30,
            banner: "ferryd FTPS server ready".to_owned(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PassiveOverrideEntry {
    pub networks: Vec<String>,
    pub address: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct SftpSection {
    pub enabled: bool,
    pub listen: String,
    pub host_keys: Vec<String>,
    pub max_auth_attempts: i64,
    pub strict_attributes: bool,
    pub kex_algorithms: Vec<String>,
    pub ciphers: Vec<String>,
    pub macs: Vec<String>,
}

impl Default for SftpSection {
    fn default() -> SftpSection {
        SftpSection {
            enabled: true,
            listen: "0.0.0.0:22".to_owned(),
            host_keys: vec![
                "ssh_host_ed25519_key".to_owned(),
                "ssh_host_ecdsa_key".to_owned(),
            ],
            max_auth_attempts: 6,
            strict_attributes: false,
            kex_algorithms: Vec::new(),
            ciphers: Vec::new(),
            macs: Vec::new(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct AuthSection {
    pub users_file: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct LogSection {
    pub level: String,
    pub format: String,
    pub transfer_log: String,
}

impl Default for LogSection {
    fn default() -> LogSection {
        LogSection {
            level: "info".to_owned(),
            format: "text".to_owned(),
            transfer_log: String::new(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct MetricsSection {
    pub listen: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct DefenderSection {
    pub enabled: bool,
    pub threshold: i64,
    pub ban_time_secs: i64,
    pub observation_time_secs: i64,
    pub score_failed_login: i64,
    pub score_protocol_abuse: i64,
    pub allow_list: Vec<String>,
}

impl Default for DefenderSection {
    fn default() -> DefenderSection {
        DefenderSection {
            enabled: true,
            threshold: 10,
            ban_time_secs: 900,
            observation_time_secs: 600,
            score_failed_login: 1,
            score_protocol_abuse: 3,
            allow_list: Vec::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct SandboxSection {
    pub enabled: bool,
    pub landlock: bool,
    pub seccomp: bool,
    pub extra_read_paths: Vec<String>,
    pub extra_write_paths: Vec<String>,
}

impl Default for SandboxSection {
    fn default() -> SandboxSection {
        SandboxSection {
            enabled: true,
            landlock: true,
            seccomp: true,
            extra_read_paths: Vec::new(),
            extra_write_paths: Vec::new(),
        }
    }
}

/// The raw `[s3]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct S3Section {
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub path_style: bool,
    pub credentials_file: String,
    pub profile: String,
    pub request_timeout_secs: i64,
    pub connect_timeout_secs: i64,
    pub max_retries: i64,
}

impl Default for S3Section {
    fn default() -> S3Section {
        S3Section {
            endpoint: String::new(),
            region: "us-east-1".to_owned(),
            bucket: String::new(),
            // Self-hosted engines (Garage, MinIO, moto) answer on one host name; AWS accepts
            // path-style too.
            path_style: true,
            credentials_file: String::new(),
            profile: "default".to_owned(),
            request_timeout_secs: 30,
            connect_timeout_secs: 5,
            max_retries: 3,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct ProxyProtocolSection {
    pub trusted_networks: Vec<String>,
    pub ftps: bool,
    pub ftps_implicit: bool,
    pub sftp: bool,
    pub ftps_data: bool,
}

impl Default for ProxyProtocolSection {
    fn default() -> ProxyProtocolSection {
        ProxyProtocolSection {
            trusted_networks: Vec::new(),
            ftps: true,
            ftps_implicit: true,
            sftp: true,
            ftps_data: false,
        }
    }
}
