//! Configuration: `ferryd.toml` validated into typed values.
//!
//! `Config::load` reads the file, parses it through the serde mirror in `file.rs` (which knows
//! every key and its default) and validates each value into its real type (socket addresses,
//! port ranges, durations, CIDR networks). Every problem is reported at once with its key path
//! and line. Nothing outside this module sees raw TOML.
//!
//! Relative paths resolve against the working directory ferryd was started in; the files that
//! default to living in `state_dir` (certificate, host keys, users file) resolve against it.

mod error;
mod file;
mod hooks;
mod object_storage;
pub mod protocol;
mod proxy;
pub mod toml_error;

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

pub use error::{ConfigError, Problem};
pub use hooks::{HookAction, HookEvent, HookScope, HookSpec, HooksConfig, RawHook};
use object_storage::check_endpoint;
pub use object_storage::{check_bucket, S3Config, S3Credentials};
pub use protocol::Protocol;
pub use proxy::{ProxyListener, ProxyProtocolConfig};

/// `server.umask` when the config leaves it out: files 0644, directories 0755.
pub const DEFAULT_UMASK: u32 = 0o022;

/// Parses a umask written as octal digits (`"022"`, `"0027"`, `"7"`), as `umask(1)` prints it;
/// the error says what is wrong. Shared with the users file's per-user `umask`.
pub fn parse_umask(text: &str) -> Result<u32, String> {
    let digits = text.trim();
    let octal = !digits.is_empty()
        && digits.len() <= 4
        && digits.bytes().all(|b| (b'0'..=b'7').contains(&b));
    match u32::from_str_radix(digits, 8) {
        Ok(value) if octal && value <= 0o777 => Ok(value),
        _ => Err(format!(
            "{text:?} is not a umask: write octal digits up to 777, as a string, e.g. \"022\" or \"027\""
        )),
    }
}

/// The whole validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this was loaded from, if any (for messages and reload).
    pub source: Option<PathBuf>,
    /// Process-wide settings.
    pub server: ServerConfig,
    /// The FTPS front end.
    pub ftps: FtpsConfig,
    /// The SFTP front end.
    pub sftp: SftpConfig,
    /// Where users come from.
    pub auth: AuthConfig,
    /// Logging.
    pub log: LogConfig,
    /// Prometheus metrics endpoint.
    pub metrics: MetricsConfig,
    /// Bans for clients that keep failing to log in or abuse the protocols.
    pub defender: DefenderConfig,
    /// Landlock and seccomp confinement of the running daemon.
    pub sandbox: SandboxConfig,
    /// `[s3]`: the object store behind `storage = "s3"` homes and folders.
    pub s3: S3Config,
    /// Trusted load balancers and the listeners they send a PROXY protocol header on.
    pub proxy_protocol: ProxyProtocolConfig,
    /// `[hooks]` and the global `[[hook]]`s.
    pub hooks: HooksConfig,
}

/// `[server]`: process-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Root under which relative user homes live.
    pub data_dir: PathBuf,
    /// Host keys, generated certificates, the users file by default.
    pub state_dir: PathBuf,
    /// Most simultaneous connections (both protocols).
    pub max_connections: usize,
    /// Most simultaneous connections from one IP address.
    pub max_connections_per_ip: usize,
    /// Most simultaneous sessions of one user; 0 = unlimited.
    pub max_sessions_per_user: usize,
    /// A session idle this long is closed.
    pub idle_timeout: Duration,
    /// A connection not logged in after this long is closed.
    pub login_timeout: Duration,
    /// How long running transfers may continue after SIGTERM.
    pub shutdown_grace: Duration,
    /// When set and the users file has no user, create this user with a random password.
    pub bootstrap_user: Option<String>,
    /// What the sweeps do with temporary upload files no running upload owns.
    pub leftover_uploads: LeftoverUploads,
    /// Where `LeftoverUploads::Move` puts them.
    pub leftover_uploads_dir: PathBuf,
    /// Time between sweeps after the one at start; `None` = only at start.
    pub leftover_scan_interval: Option<Duration>,
    /// Most directory entries one sweep looks at.
    pub leftover_scan_max_entries: u64,
    /// Permission bits taken away from the files and directories clients create (a user's
    /// `umask` in the users file overrides it).
    pub umask: u32,
}

/// `server.leftover_uploads`: the fate of an upload's temporary file after a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeftoverUploads {
    /// Delete it.
    Remove,
    /// Leave it and only report it.
    Keep,
    /// Move it into `server.leftover_uploads_dir`.
    Move,
}

/// `[ftps]`: the FTP front end.
#[derive(Debug, Clone, PartialEq)]
pub struct FtpsConfig {
    /// Whether FTPS listeners start at all.
    pub enabled: bool,
    /// Explicit FTPS (`AUTH TLS`) listener; `None` = off.
    pub listen: Option<SocketAddr>,
    /// Implicit FTPS listener (TLS from the first byte); `None` = off.
    pub implicit_listen: Option<SocketAddr>,
    /// Ports for passive data connections.
    pub passive_ports: RangeInclusive<u16>,
    /// Address advertised in PASV replies; `None` = the control connection's local address.
    pub passive_address: Option<PassiveAddress>,
    /// Per-client-network advertised addresses, checked before `passive_address`.
    pub passive_address_overrides: Vec<PassiveOverride>,
    /// Refuse login and clear data channels before TLS.
    pub require_tls: bool,
    /// Data connections must resume the control connection's TLS session.
    pub require_tls_session_reuse: bool,
    /// Client networks exempt from the session reuse check.
    pub tls_session_reuse_exempt_networks: Vec<IpNet>,
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// Allow PORT/EPRT (active mode).
    pub active_mode: bool,
    /// How long to wait for a data connection.
    pub data_timeout: Duration,
    /// The 220 greeting text.
    pub banner: String,
}

/// What to advertise as the passive address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassiveAddress {
    /// A fixed IP address.
    Ip(IpAddr),
    /// A DNS name, re-resolved for each PASV (dynamic IPs).
    Host(String),
}

/// Clients in `networks` are told `address` in PASV replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassiveOverride {
    /// Client networks this applies to.
    pub networks: Vec<IpNet>,
    /// What they are told.
    pub address: PassiveAddress,
}

/// `[sftp]`: the SSH front end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftpConfig {
    /// Whether the SFTP listener starts at all.
    pub enabled: bool,
    /// The SSH listener; `None` = off.
    pub listen: Option<SocketAddr>,
    /// Host key files (generated when missing); type from the file name, else ed25519.
    pub host_keys: Vec<PathBuf>,
    /// Authentication attempts allowed per connection.
    pub max_auth_attempts: u32,
    /// Fail attribute changes the VFS refuses (owner, group, modes or times without
    /// permission) instead of ignoring them; off by default because WinSCP and `sftp -p`
    /// treat such a failure as a failed upload.
    pub strict_attributes: bool,
    /// Key exchange algorithms, in preference order; empty = ferryd's defaults.
    pub kex_algorithms: Vec<String>,
    /// Ciphers, in preference order; empty = ferryd's defaults.
    pub ciphers: Vec<String>,
    /// MACs, in preference order; empty = ferryd's defaults.
    pub macs: Vec<String>,
}

/// `[auth]`: where users come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// The users file (TOML).
    pub users_file: PathBuf,
}

/// `[log]`: logging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// A tracing filter directive such as `info` or `ferryd=debug,warn`.
    pub level: String,
    /// Line format.
    pub format: LogFormat,
    /// Optional xferlog-format transfer log file.
    pub transfer_log: Option<PathBuf>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[defender]`: temporary bans of client addresses that misbehave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefenderConfig {
    /// Whether bans happen at all.
    pub enabled: bool,
    /// The score within `observation_time` that bans an address.
    pub threshold: u32,
    /// How long a first ban lasts; repeat offenders get doubled times, at most a day.
    pub ban_time: Duration,
    /// Offences older than this are forgotten.
    pub observation_time: Duration,
    /// Score of one failed login.
    pub score_failed_login: u32,
    /// Score of one protocol abuse (malformed packets, oversized lines, refused data theft…).
    pub score_protocol_abuse: u32,
    /// Networks that are never banned (monitoring, the office).
    pub allow_list: Vec<IpNet>,
}

/// `[sandbox]`: how the daemon confines itself once its keys are loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// Master switch; `false` turns off both mechanisms.
    pub enabled: bool,
    /// Restrict file access with Landlock.
    pub landlock: bool,
    /// Restrict system calls with a seccomp filter.
    pub seccomp: bool,
    /// More paths Landlock lets the daemon read beneath.
    pub extra_read_paths: Vec<PathBuf>,
    /// More paths Landlock lets the daemon read and write beneath (folders added later).
    pub extra_write_paths: Vec<PathBuf>,
}

/// `[metrics]`: the optional Prometheus endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Where to serve `/metrics`; `None` = off.
    pub listen: Option<SocketAddr>,
}

impl Default for Config {
    fn default() -> Config {
        // The built-in defaults are valid by construction; a test keeps them so.
        let mut problems = Vec::new();
        let config = Validator::new("", &mut problems).config(file::File::default(), None);
        debug_assert!(
            problems.is_empty(),
            "built-in defaults invalid: {problems:?}"
        );
        config
    }
}

impl Config {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Validates config text; `path` names it in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw: file::File = toml_error::from_str(text).map_err(|error| ConfigError::Invalid {
            path: path.to_owned(),
            problems: vec![toml_problem(error)],
        })?;
        let mut problems = Vec::new();
        let config = Validator::new(text, &mut problems).config(raw, Some(path.to_owned()));
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_owned(),
                problems,
            })
        }
    }

    /// Whether ferryd creates `path` on first start when it is missing: only the key material
    /// the config leaves at its default names in `state_dir` (the quick start). Any other path
    /// was written by the admin and must exist, so a typo is an error rather than a freshly
    /// generated self-signed certificate nobody asked for.
    pub fn generated_when_missing(&self, path: &Path) -> bool {
        GENERATED_FILES
            .iter()
            .any(|name| path == self.server.state_dir.join(name))
    }

    /// Number of ports in the passive range.
    pub fn passive_port_count(&self) -> usize {
        usize::from(*self.ftps.passive_ports.end() - *self.ftps.passive_ports.start()) + 1
    }
}

fn toml_problem(error: toml_error::TomlError) -> Problem {
    Problem {
        // Only TOML syntax that names no key (a broken `[table` header) lands here keyless.
        key: error.key.unwrap_or_else(|| "TOML syntax".to_owned()),
        position: error.position,
        message: error.message,
    }
}

/// Turns raw values into typed ones, recording a `Problem` for each bad value.
struct Validator<'a> {
    source: &'a str,
    problems: &'a mut Vec<Problem>,
}

impl<'a> Validator<'a> {
    fn new(source: &'a str, problems: &'a mut Vec<Problem>) -> Validator<'a> {
        Validator { source, problems }
    }

    fn problem(&mut self, key: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            key: key.to_owned(),
            position: error::locate(self.source, key),
            message: message.into(),
        });
    }

    fn config(&mut self, raw: file::File, source: Option<PathBuf>) -> Config {
        let server = self.server(raw.server);
        let state_dir = server.state_dir.clone();
        let ftps = self.ftps(raw.ftps, &state_dir);
        let sftp = self.sftp(raw.sftp, &state_dir);
        let users_file = if raw.auth.users_file.is_empty() {
            state_dir.join("users.toml")
        } else {
            state_dir.join(&raw.auth.users_file)
        };
        let log = self.log(raw.log);
        let metrics = MetricsConfig {
            listen: self.optional_address("metrics.listen", &raw.metrics.listen),
        };
        let defender = self.defender(raw.defender);
        let sandbox = self.sandbox(raw.sandbox);
        let s3 = self.s3(raw.s3, &state_dir);
        let proxy_protocol = self.proxy_protocol(raw.proxy_protocol);
        let (hooks, problems) = hooks::validate(raw.hooks, raw.hook, self.source);
        self.problems.extend(problems);
        if ftps.enabled && sftp.enabled {
            let ftp_addresses = [ftps.listen, ftps.implicit_listen];
            let shared = |a: &SocketAddr| a.port() != 0 && ftp_addresses.contains(&Some(*a));
            if let Some(listen) = sftp.listen.filter(shared) {
                self.problem("sftp.listen", format!("{listen} is also an FTPS listener"));
            }
        }
        Config {
            source,
            server,
            ftps,
            sftp,
            auth: AuthConfig { users_file },
            log,
            metrics,
            defender,
            sandbox,
            s3,
            proxy_protocol,
            hooks,
        }
    }

    fn sandbox(&mut self, raw: file::SandboxSection) -> SandboxConfig {
        let mut paths = |key: &str, texts: Vec<String>| -> Vec<PathBuf> {
            texts
                .into_iter()
                .filter(|text| {
                    // Relative paths would depend on the working directory at start.
                    let absolute = Path::new(text).is_absolute();
                    if !absolute {
                        self.problem(key, format!("{text:?} must be an absolute path"));
                    }
                    absolute
                })
                .map(PathBuf::from)
                .collect()
        };
        SandboxConfig {
            extra_read_paths: paths("sandbox.extra_read_paths", raw.extra_read_paths),
            extra_write_paths: paths("sandbox.extra_write_paths", raw.extra_write_paths),
            enabled: raw.enabled,
            landlock: raw.landlock,
            seccomp: raw.seccomp,
        }
    }

    fn defender(&mut self, raw: file::DefenderSection) -> DefenderConfig {
        let mut small = |key: &str, value: i64| -> u32 {
            u32::try_from(self.count(key, value, 1)).unwrap_or(u32::MAX)
        };
        DefenderConfig {
            enabled: raw.enabled,
            threshold: small("defender.threshold", raw.threshold),
            score_failed_login: small("defender.score_failed_login", raw.score_failed_login),
            score_protocol_abuse: small("defender.score_protocol_abuse", raw.score_protocol_abuse),
            ban_time: self.seconds("defender.ban_time_secs", raw.ban_time_secs),
            observation_time: self
                .seconds("defender.observation_time_secs", raw.observation_time_secs),
            allow_list: self.networks("defender.allow_list", &raw.allow_list),
        }
    }

    fn proxy_protocol(&mut self, raw: file::ProxyProtocolSection) -> ProxyProtocolConfig {
        ProxyProtocolConfig {
            trusted_networks: self
                .networks("proxy_protocol.trusted_networks", &raw.trusted_networks),
            ftps: raw.ftps,
            ftps_implicit: raw.ftps_implicit,
            sftp: raw.sftp,
            ftps_data: raw.ftps_data,
        }
    }

    fn server(&mut self, raw: file::ServerSection) -> ServerConfig {
        let bootstrap_user = match raw.bootstrap_user.trim() {
            "" => None,
            name if is_valid_user_name(name) => Some(name.to_owned()),
            name => {
                self.problem(
                    "server.bootstrap_user",
                    format!("{name:?} is not a valid user name (letters, digits, '.', '_', '-')"),
                );
                None
            }
        };
        let leftover_uploads = match raw.leftover_uploads.as_str() {
            "remove" => LeftoverUploads::Remove,
            "keep" => LeftoverUploads::Keep,
            "move" => LeftoverUploads::Move,
            other => {
                self.problem(
                    "server.leftover_uploads",
                    format!("{other:?} is not one of \"remove\", \"keep\", \"move\""),
                );
                LeftoverUploads::Remove
            }
        };
        if raw.leftover_uploads_dir.trim().is_empty() {
            self.problem("server.leftover_uploads_dir", "must name a directory");
        }
        let state_dir = self.directory("server.state_dir", &raw.state_dir);
        let leftover_scan_interval = match raw.leftover_scan_interval_secs {
            0 => None,
            secs => Some(self.seconds("server.leftover_scan_interval_secs", secs)),
        };
        let umask = parse_umask(&raw.umask).unwrap_or_else(|message| {
            self.problem("server.umask", message);
            DEFAULT_UMASK
        });
        ServerConfig {
            umask,
            data_dir: self.directory("server.data_dir", &raw.data_dir),
            leftover_uploads,
            // Relative to state_dir, like the other files the daemon keeps for itself.
            leftover_uploads_dir: state_dir.join(raw.leftover_uploads_dir.trim()),
            leftover_scan_interval,
            leftover_scan_max_entries: u64::try_from(self.count(
                "server.leftover_scan_max_entries",
                raw.leftover_scan_max_entries,
                1,
            ))
            .unwrap_or(u64::MAX),
            state_dir,
            max_connections: self.count("server.max_connections", raw.max_connections, 1),
            max_connections_per_ip: self.count(
                "server.max_connections_per_ip",
                raw.max_connections_per_ip,
                1,
            ),
            max_sessions_per_user: self.count(
                "server.max_sessions_per_user",
                raw.max_sessions_per_user,
                0,
            ),
            idle_timeout: self.seconds("server.idle_timeout_secs", raw.idle_timeout_secs),
            login_timeout: self.seconds("server.login_timeout_secs", raw.login_timeout_secs),
            shutdown_grace: self.seconds("server.shutdown_grace_secs", raw.shutdown_grace_secs),
            bootstrap_user,
        }
    }

    fn ftps(&mut self, raw: file::FtpsSection, state_dir: &Path) -> FtpsConfig {
        let passive_ports = self.port_range("ftps.passive_ports", &raw.passive_ports);
        let passive_address = match raw.passive_address.trim() {
            "" => None,
            text => self.passive_address("ftps.passive_address", text),
        };
        let mut passive_address_overrides = Vec::new();
        for entry in raw.passive_address_overrides {
            let key = "ftps.passive_address_overrides";
            let networks = self.networks(key, &entry.networks);
            if networks.is_empty() {
                self.problem(key, "each override needs at least one network");
            }
            if let Some(address) = self.passive_address(key, entry.address.trim()) {
                passive_address_overrides.push(PassiveOverride { networks, address });
            }
        }
        let listen = self.optional_address("ftps.listen", &raw.listen);
        let implicit_listen = self.optional_address("ftps.implicit_listen", &raw.implicit_listen);
        if listen.is_some_and(|a| a.port() != 0) && listen == implicit_listen {
            self.problem(
                "ftps.implicit_listen",
                "explicit and implicit FTPS cannot share one address",
            );
        }
        FtpsConfig {
            enabled: raw.enabled,
            listen,
            implicit_listen,
            passive_ports,
            passive_address,
            passive_address_overrides,
            require_tls: raw.require_tls,
            require_tls_session_reuse: raw.require_tls_session_reuse,
            tls_session_reuse_exempt_networks: self.networks(
                "ftps.tls_session_reuse_exempt_networks",
                &raw.tls_session_reuse_exempt_networks,
            ),
            cert: state_file(state_dir, &raw.cert, "ftps-cert.pem"),
            key: state_file(state_dir, &raw.key, "ftps-key.pem"),
            active_mode: raw.active_mode,
            data_timeout: self.seconds("ftps.data_timeout_secs", raw.data_timeout_secs),
            banner: sanitize_banner(&raw.banner),
        }
    }

    fn sftp(&mut self, raw: file::SftpSection, state_dir: &Path) -> SftpConfig {
        if raw.enabled && raw.host_keys.is_empty() {
            self.problem("sftp.host_keys", "at least one host key is needed");
        }
        let max_auth_attempts = self.count("sftp.max_auth_attempts", raw.max_auth_attempts, 1);
        SftpConfig {
            enabled: raw.enabled,
            listen: self.optional_address("sftp.listen", &raw.listen),
            host_keys: raw
                .host_keys
                .iter()
                .map(|name| state_file(state_dir, name, name))
                .collect(),
            max_auth_attempts: u32::try_from(max_auth_attempts).unwrap_or(u32::MAX),
            strict_attributes: raw.strict_attributes,
            kex_algorithms: raw.kex_algorithms,
            ciphers: raw.ciphers,
            macs: raw.macs,
        }
    }

    fn log(&mut self, raw: file::LogSection) -> LogConfig {
        let format = match raw.format.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                self.problem(
                    "log.format",
                    format!("{other:?} is not a log format (expected \"text\" or \"json\")"),
                );
                LogFormat::Text
            }
        };
        if let Err(error) = raw.level.parse::<tracing_subscriber::EnvFilter>() {
            self.problem(
                "log.level",
                format!("{:?} is not a valid level: {error}", raw.level),
            );
        }
        LogConfig {
            level: raw.level,
            format,
            transfer_log: (!raw.transfer_log.is_empty()).then(|| PathBuf::from(raw.transfer_log)),
        }
    }

    fn directory(&mut self, key: &str, text: &str) -> PathBuf {
        if text.trim().is_empty() {
            self.problem(key, "must name a directory");
        }
        PathBuf::from(text)
    }

    fn count(&mut self, key: &str, value: i64, minimum: i64) -> usize {
        if value < minimum {
            self.problem(key, format!("must be at least {minimum}, got {value}"));
            return usize::try_from(minimum).unwrap_or(0);
        }
        usize::try_from(value).unwrap_or(usize::MAX)
    }

    fn seconds(&mut self, key: &str, value: i64) -> Duration {
        const MAX_SECS: i64 = 7 * 24 * 3600;
        if !(1..=MAX_SECS).contains(&value) {
            self.problem(
                key,
                format!("must be between 1 and {MAX_SECS} seconds, got {value}"),
            );
            return Duration::from_secs(1);
        }
        Duration::from_secs(value.unsigned_abs())
    }

    fn optional_address(&mut self, key: &str, text: &str) -> Option<SocketAddr> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        match text.parse::<SocketAddr>() {
            Ok(address) => Some(address),
            Err(_) => {
                self.problem(
                    key,
                    format!("{text:?} is not an address:port such as \"0.0.0.0:21\" or \"[::]:22\" (\"\" turns it off)"),
                );
                None
            }
        }
    }

    fn port_range(&mut self, key: &str, text: &str) -> RangeInclusive<u16> {
        let parsed = text.split_once('-').and_then(|(low, high)| {
            let low: u16 = low.trim().parse().ok()?;
            let high: u16 = high.trim().parse().ok()?;
            (1024 <= low && low <= high).then_some(low..=high)
        });
        parsed.unwrap_or_else(|| {
            self.problem(
                key,
                format!("{text:?} is not a port range such as \"50000-50100\" (ports 1024-65535, low <= high)"),
            );
            50000..=50100
        })
    }

    fn passive_address(&mut self, key: &str, text: &str) -> Option<PassiveAddress> {
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Some(PassiveAddress::Ip(ip));
        }
        let is_host_name = !text.is_empty()
            && text.len() <= 253
            && text.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if is_host_name {
            Some(PassiveAddress::Host(text.to_owned()))
        } else {
            self.problem(
                key,
                format!("{text:?} is neither an IP address nor a host name"),
            );
            None
        }
    }

    fn networks(&mut self, key: &str, texts: &[String]) -> Vec<IpNet> {
        texts
            .iter()
            .filter_map(|text| match parse_network(text) {
                Some(network) => Some(network),
                None => {
                    self.problem(
                        key,
                        format!("{text:?} is not a network such as \"10.0.0.0/8\""),
                    );
                    None
                }
            })
            .collect()
    }
}

/// Parses a CIDR network, accepting a bare address as a single-host network.
pub fn parse_network(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// The user-name rule shared by the config (bootstrap user) and the users file.
pub fn is_valid_user_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with(['-', '.'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Key material ferryd generates under these names in `state_dir` (see
/// [`Config::generated_when_missing`]).
const GENERATED_FILES: &[&str] = &[
    "ftps-cert.pem",
    "ftps-key.pem",
    "ssh_host_ed25519_key",
    "ssh_host_ecdsa_key",
    "ssh_host_rsa_key",
];

fn state_file(state_dir: &Path, configured: &str, default_name: &str) -> PathBuf {
    let name = if configured.is_empty() {
        default_name
    } else {
        configured
    };
    state_dir.join(name)
}

fn sanitize_banner(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

impl Default for S3Config {
    fn default() -> S3Config {
        let mut problems = Vec::new();
        Validator::new("", &mut problems).s3(file::S3Section::default(), Path::new("/"))
    }
}

impl Validator<'_> {
    fn s3(&mut self, raw: file::S3Section, state_dir: &Path) -> S3Config {
        let endpoint = match raw.endpoint.trim() {
            "" => None,
            text => check_endpoint(text)
                .map_err(|reason| self.problem("s3.endpoint", reason))
                .ok(),
        };
        let bucket = match raw.bucket.trim() {
            "" => None,
            text => match check_bucket(text) {
                Ok(()) => Some(text.to_owned()),
                Err(reason) => {
                    self.problem("s3.bucket", format!("{text:?} {reason}"));
                    None
                }
            },
        };
        if raw.region.trim().is_empty() {
            self.problem(
                "s3.region",
                "must not be empty (Garage's default is \"garage\")",
            );
        }
        let credentials = match raw.credentials_file.trim() {
            "" => S3Credentials::Environment,
            path => S3Credentials::File {
                path: state_dir.join(path),
                profile: raw.profile.trim().to_owned(),
            },
        };
        let max_retries = self.count("s3.max_retries", raw.max_retries, 0).min(10);
        S3Config {
            endpoint,
            region: raw.region.trim().to_owned(),
            bucket,
            path_style: raw.path_style,
            credentials,
            request_timeout: self.seconds("s3.request_timeout_secs", raw.request_timeout_secs),
            connect_timeout: self.seconds("s3.connect_timeout_secs", raw.connect_timeout_secs),
            max_retries: u32::try_from(max_retries).unwrap_or(10),
        }
    }
}

#[cfg(test)]
mod tests;
