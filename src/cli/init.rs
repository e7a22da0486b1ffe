//! `ferryd init`: write a production config, certificate, host keys and an empty users file;
//! with `--state-only`, create only the missing state next to an existing config (packages).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};

use crate::auth::UserDb;
use crate::config::Config;
use crate::key_material::{certificate, host_keys};

use super::failure::Failure;
use super::invocation::Invocation;
use super::output;

/// Options of `ferryd init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Put the config, state and data below this directory (self-contained setup).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Host names and IPs the TLS certificate is issued for, besides this host's name.
    #[arg(long = "name", value_name = "NAME")]
    names: Vec<String>,
    /// Also create an RSA host key (for very old clients; the rsa crate has an unpatched
    /// timing advisory, RUSTSEC-2023-0071, so it is off by default).
    #[arg(long)]
    rsa: bool,
    /// Keep the existing config (--config) and create only what it names that is missing:
    /// the state and data directories, and at their default names in state_dir the TLS
    /// certificate, the SSH host keys and an empty users file. Existing files are kept.
    ///
    /// For packages, which install the config before any key exists; run it as the user the
    /// daemon runs as, so that user owns what it creates.
    #[arg(long, conflicts_with_all = ["dir", "rsa"])]
    state_only: bool,
}

/// The reference config; init writes it with the chosen directories filled in, so the
/// generated file documents every key.
const REFERENCE_CONFIG: &str = include_str!("../../config/ferryd.toml");

pub(super) fn run(config_path: &Path, args: &InitArgs) -> Result<(), Failure> {
    if args.state_only {
        return create_state_only(config_path, &args.names);
    }
    let layout = Layout::new(config_path, args)?;
    let text = production_config(&layout, args.rsa);
    let config = Config::parse(&text, &layout.config)
        .context("internal error: the generated config is invalid")
        .map_err(|error| Failure::new(Failure::SOFTWARE, error))?;

    let mut outputs = vec![
        layout.config.clone(),
        config.ftps.cert.clone(),
        config.ftps.key.clone(),
        config.auth.users_file.clone(),
    ];
    outputs.extend(config.sftp.host_keys.iter().cloned());
    let existing: Vec<String> = outputs
        .iter()
        .filter(|path| path.exists())
        .map(|path| path.display().to_string())
        .collect();
    if !existing.is_empty() {
        return Err(Failure::new(
            Failure::CANT_CREATE,
            anyhow!(
                "refusing to overwrite existing files: {}",
                existing.join(", ")
            ),
        ));
    }

    let cant_create = |error: anyhow::Error| Failure::new(Failure::CANT_CREATE, error);
    if let Some(parent) = layout.config.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))
            .map_err(cant_create)?;
    }
    std::fs::write(&layout.config, &text)
        .with_context(|| format!("writing {}", layout.config.display()))
        .map_err(cant_create)?;
    let mut out = output::stdout();
    writeln!(out, "wrote {}", layout.config.display())?;
    create_missing_state(&config, &args.names)?;
    let ferryd = Invocation::new(&layout.config, &config);
    writeln!(out)?;
    writeln!(
        out,
        "Next, add a user (NAME: letters, digits, '.', '_', '-'):"
    )?;
    writeln!(
        out,
        "  {}",
        ferryd.command(&["user", "add", "NAME", "--random-password"])
    )?;
    writeln!(out, "Then run the server in the foreground:")?;
    writeln!(out, "  {}", ferryd.command(&["serve"]))?;
    if ferryd.uses_default_config() {
        writeln!(
            out,
            "or as a service with config/ferryd.service (see docs/install.md):"
        )?;
        writeln!(out, "  systemctl enable --now ferryd")?;
    } else {
        // The unit file names the default config; this one needs its own unit.
        writeln!(
            out,
            "or as a service: copy config/ferryd.service and change its --config to {}",
            layout.config.display()
        )?;
    }
    Ok(())
}

/// `init --state-only`: the config exists (a package's conffile); add what it lacks.
fn create_state_only(config_path: &Path, names: &[String]) -> Result<(), Failure> {
    let config = Config::load(config_path).map_err(Failure::config)?;
    create_missing_state(&config, names)?;
    writeln!(
        output::stdout(),
        "{}: state complete",
        config_path.display()
    )
}

/// Creates the directories, and each missing key file and users file at its default name in
/// `state_dir`, printing what it wrote. A file elsewhere was named by the admin: a missing one
/// is left for `check-config` to report rather than replaced by a self-signed stand-in.
fn create_missing_state(config: &Config, names: &[String]) -> Result<(), Failure> {
    let cant_create = |error: anyhow::Error| Failure::new(Failure::CANT_CREATE, error);
    let mut out = output::stdout();
    for dir in [&config.server.state_dir, &config.server.data_dir] {
        create_private_dir(dir).map_err(cant_create)?;
    }
    let ftps = &config.ftps;
    match (ftps.cert.exists(), ftps.key.exists()) {
        (true, true) => {}
        (false, false) if generated(config, &ftps.cert) && generated(config, &ftps.key) => {
            let names = certificate::default_names(names);
            certificate::generate(&ftps.cert, &ftps.key, &names)
                .context("generating the TLS certificate")
                .map_err(cant_create)?;
            let tls = certificate::load(&ftps.cert, &ftps.key)
                .map_err(|error| Failure::new(Failure::SOFTWARE, error))?;
            writeln!(
                out,
                "wrote {} (self-signed for {}; SHA-256 {})",
                ftps.cert.display(),
                names.join(", "),
                tls.fingerprint()
            )?;
        }
        (false, false) => {}
        (cert_exists, _) => {
            let (present, missing) = if cert_exists {
                (&ftps.cert, &ftps.key)
            } else {
                (&ftps.key, &ftps.cert)
            };
            return Err(Failure::config(anyhow!(
                "{} exists but {} is missing; restore it or remove both to generate a new pair",
                present.display(),
                missing.display()
            )));
        }
    }
    for path in &config.sftp.host_keys {
        if path.exists() || !generated(config, path) {
            continue;
        }
        host_keys::generate(path, host_keys::HostKeyKind::for_path(path))
            .context("generating an SSH host key")
            .map_err(cant_create)?;
        let key = host_keys::load(path).map_err(|error| Failure::new(Failure::SOFTWARE, error))?;
        writeln!(
            out,
            "wrote {} ({})",
            path.display(),
            host_keys::fingerprint(&key)
        )?;
    }
    let users_file = &config.auth.users_file;
    if !users_file.exists() && *users_file == config.server.state_dir.join(USERS_FILE) {
        UserDb::default()
            .save(users_file)
            .context("creating the users file")
            .map_err(cant_create)?;
        writeln!(out, "wrote {} (no users yet)", users_file.display())?;
    }
    Ok(())
}

/// The users file's name in the reference config, relative to `state_dir`.
const USERS_FILE: &str = "users.toml";

fn generated(config: &Config, path: &Path) -> bool {
    config.generated_when_missing(path)
}

struct Layout {
    config: PathBuf,
    state_dir: PathBuf,
    data_dir: PathBuf,
}

impl Layout {
    fn new(config_path: &Path, args: &InitArgs) -> Result<Layout, Failure> {
        let absolute = |path: &Path| -> Result<PathBuf, Failure> {
            std::path::absolute(path)
                .with_context(|| format!("resolving {}", path.display()))
                .map_err(|error| Failure::new(Failure::USAGE, error))
        };
        Ok(match &args.dir {
            Some(dir) => {
                let dir = absolute(dir)?;
                Layout {
                    config: dir.join("ferryd.toml"),
                    state_dir: dir.join("state"),
                    data_dir: dir.join("data"),
                }
            }
            None => Layout {
                config: absolute(config_path)?,
                state_dir: PathBuf::from("/var/lib/ferryd/state"),
                data_dir: PathBuf::from("/var/lib/ferryd/data"),
            },
        })
    }
}

fn production_config(layout: &Layout, rsa: bool) -> String {
    let mut text = String::with_capacity(REFERENCE_CONFIG.len() + 256);
    text.push_str(
        "# Written by `ferryd init`; every key is shown with its default unless changed.\n",
    );
    for line in REFERENCE_CONFIG.lines() {
        let replaced = if line.starts_with("data_dir = ") {
            format!("data_dir = {}", toml_string(&layout.data_dir))
        } else if line.starts_with("state_dir = ") {
            format!("state_dir = {}", toml_string(&layout.state_dir))
        } else if rsa && line.starts_with("host_keys = ") {
            "host_keys = [\"ssh_host_ed25519_key\", \"ssh_host_ecdsa_key\", \"ssh_host_rsa_key\"]"
                .to_owned()
        } else {
            line.to_owned()
        };
        text.push_str(&replaced);
        text.push('\n');
    }
    text
}

fn toml_string(path: &Path) -> String {
    toml::Value::String(path.display().to_string()).to_string()
}

fn create_private_dir(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(path)
        .with_context(|| format!("creating {}", path.display()))
}
