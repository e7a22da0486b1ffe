//! `ferryd check-config`: every check `serve` makes before it serves, run without changing
//! anything, so `ExecStartPre=ferryd check-config` fails exactly when the start would.
//!
//! Each step calls the function `serve` calls for it (directory plans, the users file, the
//! key material plans and loaders, the front ends' settings checks, the sandbox's paths, the
//! admin socket check, binding each listener); only the acting half (creating, generating,
//! serving) is left out.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use crate::auth::{Authenticator, LogObserver};
use crate::config::Config;
use crate::ftp;
use crate::key_material::host_keys;
use crate::sftp;

use super::admin::{self, AdminError};
use super::bootstrap::{self, DirectoryPlan};
use super::error::StartError;
use super::key_plan::{self, FilePlan};
use super::object_storage;
use super::sandbox;

/// What `serve` would do with this config, and every reason it would refuse to start.
#[derive(Debug, Default)]
pub struct Preflight {
    /// What start would create or generate, and other facts worth showing.
    pub notes: Vec<String>,
    /// Each reason `serve` would refuse this config.
    pub problems: Vec<StartError>,
    /// Nobody could log in: the users file is empty and no bootstrap user is configured. The
    /// CLI says how to add one, as a command that works pasted.
    pub needs_a_user: bool,
    /// Deployment advice that does not stop a start (FTPS behind NAT without a masquerade
    /// address, …).
    pub warnings: Vec<String>,
}

impl Preflight {
    fn check<T>(&mut self, result: Result<T, StartError>) -> Option<T> {
        result.map_err(|error| self.problems.push(error)).ok()
    }
}

/// Runs every start-up check of `serve` against `config`; reports all problems, not the first.
pub fn preflight(config: &Config) -> Preflight {
    let mut report = Preflight::default();
    for (key, path, _) in bootstrap::directories(config) {
        if report.check(bootstrap::directory_plan(key, path)) == Some(DirectoryPlan::Create) {
            report
                .notes
                .push(format!("{key} = {}: created at start", path.display()));
        }
    }
    let users = report.check(bootstrap::load_users(config));
    if let Some(users) = &users {
        note_users(&mut report, config, users.len());
        if report
            .check(object_storage::prepare(config, users))
            .is_some()
        {
            note_buckets(&mut report, config, users);
        }
    }
    if config.ftps.enabled {
        report.warnings = ftp::setup_warnings(&config.ftps);
    }
    if key_plan::ftps_listens(config) {
        check_tls(&mut report, config, users.clone());
    }
    if key_plan::sftp_listens(config) {
        check_host_keys(&mut report, config);
    }
    report.check(sandbox::check_paths(config).map_err(StartError::from));
    if let Some(path) = &config.log.transfer_log {
        report.check(appendable(path).map_err(|source| StartError::Directory {
            key: "log.transfer_log",
            path: path.clone(),
            source,
        }));
    }
    let running = match admin::check(&config.server.state_dir) {
        Ok(()) => None,
        Err(AdminError::InUse { pid, .. }) => {
            report.notes.push(format!(
                "a ferryd{} is running with this server.state_dir; `serve` would refuse to \
                 start beside it (use reload to apply this config)",
                pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
            ));
            Some(pid)
        }
        Err(other) => {
            report.problems.push(other.into());
            None
        }
    };
    for (key, address) in listeners(config) {
        match std::net::TcpListener::bind(address) {
            Ok(_) => {}
            // The running daemon holds its own ports; that is not a fault of this config.
            Err(error) if running.is_some() && error.kind() == std::io::ErrorKind::AddrInUse => {
                report.notes.push(format!(
                    "{key} = {address}: in use (by the running ferryd?)"
                ));
            }
            Err(source) => report.problems.push(StartError::Bind {
                key,
                address,
                source,
            }),
        }
    }
    report
}

/// Every listener `start` binds, with its config key.
pub(super) fn listeners(config: &Config) -> Vec<(&'static str, SocketAddr)> {
    let ftps = &config.ftps;
    let candidates = [
        (ftps.enabled, ftps.listen, "ftps.listen"),
        (ftps.enabled, ftps.implicit_listen, "ftps.implicit_listen"),
        (config.sftp.enabled, config.sftp.listen, "sftp.listen"),
        (true, config.metrics.listen, "metrics.listen"),
    ];
    candidates
        .into_iter()
        .filter(|(enabled, _, _)| *enabled)
        .filter_map(|(_, address, key)| address.map(|address| (key, address)))
        .collect()
}

fn note_buckets(report: &mut Preflight, config: &Config, users: &crate::auth::UserDb) {
    let Ok(buckets) = object_storage::buckets_in_use(config, users) else {
        return;
    };
    if !buckets.is_empty() {
        report.notes.push(format!(
            "object storage: bucket{} {} at {} (credentials read; the store is reached at start)",
            if buckets.len() == 1 { "" } else { "s" },
            buckets.join(", "),
            config.s3.endpoint.as_deref().unwrap_or("AWS"),
        ));
    }
}

fn note_users(report: &mut Preflight, config: &Config, count: usize) {
    let file = config.auth.users_file.display();
    report
        .notes
        .push(match (count, &config.server.bootstrap_user) {
            (0, Some(name)) => format!(
                "{file} has no users yet: start creates {name:?} and prints its password once"
            ),
            (0, None) => {
                report.needs_a_user = true;
                format!("{file} has no users yet: nobody can log in")
            }
            (count, _) => format!("{file}: {count} user(s)"),
        });
}

fn check_tls(report: &mut Preflight, config: &Config, users: Option<crate::auth::UserDb>) {
    match report.check(key_plan::tls_plan(config)) {
        Some(FilePlan::Generate) => report.notes.push(format!(
            "{}: a self-signed certificate is generated at start",
            config.ftps.cert.display()
        )),
        Some(FilePlan::Load) => {
            if let Some(tls) = report.check(key_plan::load_tls(config)) {
                let fingerprint = tls.fingerprint();
                // The client certificate pins come from the users, as in `serve`.
                let auth = Authenticator::new(
                    users.unwrap_or_default(),
                    config.server.data_dir.clone(),
                    Arc::new(LogObserver),
                );
                if report
                    .check(ftp::check_certificate(tls, auth).map_err(StartError::Ftp))
                    .is_some()
                {
                    report
                        .notes
                        .push(format!("TLS certificate OK (SHA-256 {fingerprint})"));
                }
            }
        }
        None => {}
    }
}

fn check_host_keys(report: &mut Preflight, config: &Config) {
    for path in &config.sftp.host_keys {
        match report.check(key_plan::host_key_plan(config, path)) {
            Some(FilePlan::Generate) => report
                .notes
                .push(format!("{}: generated at start", path.display())),
            Some(FilePlan::Load) => {
                if let Some(key) = report.check(key_plan::load_host_key(path)) {
                    report.notes.push(format!(
                        "{}: {}",
                        path.display(),
                        host_keys::fingerprint(&key)
                    ));
                }
            }
            None => {}
        }
    }
    report.check(sftp::check_settings(config).map_err(StartError::Sftp));
}

/// Whether the transfer log can be opened for appending as `XferLog::open` will, without
/// creating it.
fn appendable(path: &Path) -> std::io::Result<()> {
    match std::fs::OpenOptions::new().append(true).open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let parent = path
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            bootstrap::writable_directory(parent)
        }
        Err(error) => Err(error),
    }
}
