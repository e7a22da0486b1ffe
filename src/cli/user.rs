//! `ferryd user …`: manage the users file without a running server.
//!
//! Edits are saved atomically; a running server picks them up on reload (SIGHUP).

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use crate::auth::{
    password, public_key, CertificateFingerprint, CertificateLogin, FolderSource, ObjectLocation,
    UserDb, UserRecord,
};
use crate::config::{Config, Protocol};

use super::failure::Failure;
use super::invocation::Invocation;
use super::output::{self, Stdout};

/// User management subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Add a user. Give a password (--password-stdin or --random-password), a key, or a
    /// client certificate with `--cert-login certificate`.
    Add {
        /// The user name: letters, digits, '.', '_', '-'.
        name: String,
        /// Home directory, relative to `server.data_dir` or absolute (default: the name).
        #[arg(long, conflicts_with = "storage")]
        home: Option<PathBuf>,
        /// Where the home lives: `s3` puts it under a prefix of a bucket of `[s3]`.
        #[arg(long, value_name = "STORAGE")]
        storage: Option<HomeStorage>,
        /// The bucket of an `s3` home (default: `s3.bucket` of ferryd.toml).
        #[arg(long, requires = "storage")]
        bucket: Option<String>,
        /// The key prefix of an `s3` home (default: the user name).
        #[arg(long, requires = "storage")]
        prefix: Option<String>,
        #[command(flatten)]
        password: PasswordSource,
        /// An authorized SSH public key (`ssh-ed25519 AAAA… comment`); repeatable.
        #[arg(long = "key", value_name = "KEY")]
        keys: Vec<String>,
        /// Restrict the user to these protocols (ftps, sftp); repeatable.
        #[arg(long = "protocol", value_name = "PROTOCOL")]
        protocols: Vec<Protocol>,
        /// Pin an FTPS client certificate: a PEM file or a SHA-256 fingerprint; repeatable.
        #[arg(long = "cert", value_name = "CERT")]
        certificates: Vec<String>,
        /// How FTPS logins use the pinned certificates.
        #[arg(long, value_name = "MODE", default_value_t = CertificateLogin::Password)]
        cert_login: CertificateLogin,
        /// Allow reading and listing only.
        #[arg(long)]
        read_only: bool,
        /// Bits taken from the modes of files and directories the user creates, in octal
        /// (`027`: files 0640, directories 0750); default: `server.umask`.
        #[arg(long, value_name = "MASK", value_parser = parse_umask_arg)]
        umask: Option<u32>,
    },
    /// Remove a user (their files stay on disk).
    Del {
        /// The user name.
        name: String,
    },
    /// List users.
    List,
    /// Show one user's settings (never the password hash).
    Show {
        /// The user name.
        name: String,
    },
    /// Set a new password.
    Passwd {
        /// The user name.
        name: String,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Manage a user's authorized SSH keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage a user's pinned FTPS client certificates and how their login uses them.
    #[command(subcommand)]
    Cert(CertCommand),
}

/// Where `ferryd user add` puts a home.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HomeStorage {
    /// A directory under `server.data_dir` (or `--home`).
    Local,
    /// A prefix in an S3 bucket (`[s3]` in ferryd.toml).
    S3,
}

/// `ferryd user key …`
#[derive(Debug, clap::Subcommand)]
pub enum KeyCommand {
    /// Add an authorized key: `ferryd user key add NAME 'ssh-ed25519 AAAA… comment'`.
    Add {
        /// The user name.
        name: String,
        /// The public key line, as in authorized_keys or a `.pub` file.
        key: String,
    },
    /// Remove a key by its fingerprint as `ssh-keygen -lf` prints it (`SHA256:…`).
    Del {
        /// The user name.
        name: String,
        /// The key's fingerprint.
        fingerprint: String,
    },
}

/// `ferryd user cert …`
#[derive(Debug, clap::Subcommand)]
pub enum CertCommand {
    /// Pin a client certificate: `ferryd user cert add NAME partner.pem` (or its fingerprint).
    Add {
        /// The user name.
        name: String,
        /// A PEM (or DER) certificate file, or its SHA-256 fingerprint (`sha256:AB:CD:…`).
        cert: String,
    },
    /// Remove a pinned certificate, given as a file or a fingerprint.
    Del {
        /// The user name.
        name: String,
        /// The certificate file or its SHA-256 fingerprint.
        cert: String,
    },
    /// List the user's pinned certificates and login mode.
    List {
        /// The user name.
        name: String,
    },
    /// Set how FTPS logins use certificates: `password` (ignore them), `certificate` (a
    /// pinned certificate alone), `certificate_and_password` (both).
    Login {
        /// The user name.
        name: String,
        /// How FTPS logins use the pinned certificates.
        mode: CertificateLogin,
    },
}

/// The modes as clap values, so `--help` and errors list them (users-file spelling).
impl clap::ValueEnum for CertificateLogin {
    fn value_variants<'a>() -> &'a [Self] {
        &CertificateLogin::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

/// Where a new password comes from.
#[derive(Debug, clap::Args)]
#[group(multiple = false)]
pub struct PasswordSource {
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    /// Generate a random password and print it once.
    #[arg(long)]
    random_password: bool,
}

pub(super) fn run(config_path: &Path, command: UserCommand) -> Result<(), Failure> {
    let config = Config::load(config_path).map_err(Failure::config)?;
    let users_file = &config.auth.users_file;
    let mut users = UserDb::load(users_file).map_err(Failure::config)?;
    let data_error = |error: anyhow::Error| Failure::new(Failure::DATA, error);
    let mut out = output::stdout();
    match command {
        UserCommand::List => return list(&mut out, &users, &config),
        UserCommand::Show { name } => {
            let user = users
                .get(&name)
                .ok_or_else(|| data_error(anyhow!("no user named {name:?}")))?;
            return show(&mut out, user, &config);
        }
        UserCommand::Add {
            name,
            home,
            storage,
            bucket,
            prefix,
            password,
            keys,
            protocols,
            read_only,
            certificates,
            cert_login,
            umask,
        } => {
            if !password.is_given()
                && keys.is_empty()
                && cert_login != CertificateLogin::Certificate
            {
                return Err(Failure::new(
                    Failure::USAGE,
                    anyhow!(
                        "give --password-stdin, --random-password, --key, or --cert with \
                         --cert-login certificate, or the user cannot log in"
                    ),
                ));
            }
            let mut record = UserRecord::named(&name).map_err(|e| data_error(e.into()))?;
            for certificate in &certificates {
                record
                    .tls_client_certificates
                    .push(certificate_fingerprint(certificate)?);
            }
            record.tls_client_certificate_login = cert_login;
            record.home = home;
            match storage {
                Some(HomeStorage::S3) => {
                    record.home_object = Some(ObjectLocation { bucket, prefix });
                }
                Some(HomeStorage::Local) if bucket.is_some() || prefix.is_some() => {
                    return Err(Failure::new(
                        Failure::USAGE,
                        anyhow!("--bucket and --prefix are for --storage s3"),
                    ));
                }
                Some(HomeStorage::Local) | None => {}
            }
            if !protocols.is_empty() {
                record.protocols = protocols.into_iter().collect();
            }
            if read_only {
                record.permissions = crate::vfs::Permissions::READ_ONLY;
            }
            record.umask = umask;
            users.add(record).map_err(|e| data_error(e.into()))?;
            for key in &keys {
                let fingerprint = users
                    .add_key(&name, key)
                    .map_err(|e| data_error(e.into()))?;
                writeln!(out, "added key {fingerprint}")?;
            }
            if let Some(new_password) = password.read(&mut out)? {
                users
                    .set_password(&name, &new_password)
                    .map_err(|e| data_error(e.into()))?;
            }
            save(&users, users_file)?;
            writeln!(
                out,
                "added user {name:?} (home {})",
                home_of(&users, &name, &config)
            )?;
        }
        UserCommand::Del { name } => {
            users.remove(&name).map_err(|e| data_error(e.into()))?;
            save(&users, users_file)?;
            writeln!(out, "removed user {name:?}; their files were left in place")?;
        }
        UserCommand::Passwd { name, password } => {
            let new_password = password.read(&mut out)?.ok_or_else(|| {
                Failure::new(
                    Failure::USAGE,
                    anyhow!("give --password-stdin or --random-password"),
                )
            })?;
            users
                .set_password(&name, &new_password)
                .map_err(|e| data_error(e.into()))?;
            save(&users, users_file)?;
            writeln!(out, "password of {name:?} changed")?;
        }
        UserCommand::Key(KeyCommand::Add { name, key }) => {
            let fingerprint = users
                .add_key(&name, &key)
                .map_err(|e| data_error(e.into()))?;
            save(&users, users_file)?;
            writeln!(out, "added key {fingerprint} to {name:?}")?;
        }
        UserCommand::Key(KeyCommand::Del { name, fingerprint }) => {
            let removed = users
                .remove_key(&name, &fingerprint)
                .map_err(|e| data_error(e.into()))?;
            save(&users, users_file)?;
            writeln!(
                out,
                "removed key {} from {name:?}",
                public_key::fingerprint(&removed)
            )?;
        }
        UserCommand::Cert(CertCommand::List { name }) => {
            let user = users
                .get(&name)
                .ok_or_else(|| data_error(anyhow!("no user named {name:?}")))?;
            writeln!(out, "login: {}", user.tls_client_certificate_login)?;
            for fingerprint in &user.tls_client_certificates {
                writeln!(out, "{fingerprint}")?;
            }
            return Ok(());
        }
        UserCommand::Cert(CertCommand::Add { name, cert }) => {
            let fingerprint = certificate_fingerprint(&cert)?;
            users
                .add_client_certificate(&name, fingerprint)
                .map_err(|e| data_error(e.into()))?;
            save(&users, users_file)?;
            writeln!(out, "pinned client certificate {fingerprint} for {name:?}")?;
            if users
                .get(&name)
                .is_some_and(|user| !user.tls_client_certificate_login.requires_certificate())
            {
                writeln!(
                    out,
                    "{name:?} still logs in with a password only; to use the certificate, run \
                     (or with certificate_and_password):"
                )?;
                writeln!(
                    out,
                    "  {}",
                    Invocation::new(config_path, &config).command(&[
                        "user",
                        "cert",
                        "login",
                        &name,
                        "certificate"
                    ])
                )?;
            }
        }
        UserCommand::Cert(CertCommand::Del { name, cert }) => {
            let fingerprint = certificate_fingerprint(&cert)?;
            users
                .remove_client_certificate(&name, &fingerprint)
                .map_err(|e| data_error(e.into()))?;
            save(&users, users_file)?;
            writeln!(
                out,
                "removed client certificate {fingerprint} from {name:?}"
            )?;
        }
        UserCommand::Cert(CertCommand::Login { name, mode }) => {
            users
                .set_certificate_login(&name, mode)
                .map_err(|e| data_error(e.into()))?;
            save(&users, users_file)?;
            writeln!(out, "FTPS login of {name:?} set to {mode}")?;
        }
    }
    // `reload` reaches the daemon whichever way it was started; systemd's ExecReload runs it too.
    writeln!(
        out,
        "a running server picks this up on reload (as the server's user or root):"
    )?;
    writeln!(
        out,
        "  {}",
        Invocation::new(config_path, &config).command(&["reload"])
    )?;
    Ok(())
}

impl PasswordSource {
    fn is_given(&self) -> bool {
        self.password_stdin || self.random_password
    }

    /// The new password, or `None` when neither flag was given.
    fn read(&self, out: &mut Stdout) -> Result<Option<String>, Failure> {
        if self.random_password {
            let generated = password::generate_password();
            writeln!(out, "password: {generated}")?;
            return Ok(Some(generated));
        }
        if !self.password_stdin {
            return Ok(None);
        }
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            eprint!("password: ");
        }
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")
            .map_err(|error| Failure::new(Failure::DATA, error))?;
        let trimmed = line.trim_end_matches(['\r', '\n']).to_owned();
        if trimmed.is_empty() {
            return Err(Failure::new(
                Failure::DATA,
                anyhow!("the password is empty"),
            ));
        }
        Ok(Some(trimmed))
    }
}

/// A SHA-256 fingerprint as text, or the certificate file it is computed from (the first
/// certificate of a PEM file, so a chain file works too, or a DER file).
fn certificate_fingerprint(argument: &str) -> Result<CertificateFingerprint, Failure> {
    let data_error = |error: anyhow::Error| Failure::new(Failure::DATA, error);
    let not_a_fingerprint = match CertificateFingerprint::parse(argument) {
        Ok(fingerprint) => return Ok(fingerprint),
        Err(error) => error,
    };
    let path = Path::new(argument);
    if !path.is_file() {
        return Err(data_error(anyhow!(
            "{argument:?} is neither a certificate file nor a SHA-256 fingerprint \
             ({not_a_fingerprint})"
        )));
    }
    let bytes = std::fs::read(path)
        .with_context(|| format!("reading {}", path.display()))
        .map_err(data_error)?;
    let der = match CertificateDer::pem_slice_iter(&bytes).next() {
        Some(Ok(der)) => der,
        Some(Err(error)) => {
            return Err(data_error(anyhow!(
                "{}: invalid certificate PEM: {error}",
                path.display()
            )))
        }
        None => CertificateDer::from(bytes),
    };
    rustls::server::ParsedCertificate::try_from(&der)
        .map_err(|error| anyhow!("{}: not an X.509 certificate: {error}", path.display()))
        .map_err(data_error)?;
    Ok(CertificateFingerprint::of_der(der.as_ref()))
}

fn save(users: &UserDb, path: &Path) -> Result<(), Failure> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .with_context(|| format!("creating {}", parent.display()))
            .map_err(|error| Failure::new(Failure::CANT_CREATE, error))?;
    }
    users
        .save(path)
        .map_err(|error| Failure::new(Failure::CANT_CREATE, error))
}

fn home_of(users: &UserDb, name: &str, config: &Config) -> String {
    users.get(name).map_or_else(String::new, |user| {
        user.home_description(&config.server.data_dir)
    })
}

fn list(out: &mut Stdout, users: &UserDb, config: &Config) -> Result<(), Failure> {
    if users.is_empty() {
        return writeln!(out, "no users in {}", config.auth.users_file.display());
    }
    writeln!(
        out,
        "{:<20} {:<8} {:<10} {:<5} {:<6} {:<8} HOME",
        "NAME", "ENABLED", "PROTOCOLS", "KEYS", "CERTS", "PASSWORD"
    )?;
    for user in users.iter() {
        let protocols: Vec<&str> = user.protocols.iter().map(|p| p.as_str()).collect();
        writeln!(
            out,
            "{:<20} {:<8} {:<10} {:<5} {:<6} {:<8} {}",
            user.name.as_str(),
            if user.enabled { "yes" } else { "no" },
            protocols.join(","),
            user.keys.len(),
            user.tls_client_certificates.len(),
            if user.password.is_some() { "set" } else { "-" },
            user.home_description(&config.server.data_dir)
        )?;
    }
    Ok(())
}

fn show(out: &mut Stdout, user: &UserRecord, config: &Config) -> Result<(), Failure> {
    let protocols: Vec<&str> = user.protocols.iter().map(|p| p.as_str()).collect();
    writeln!(out, "name:        {}", user.name.as_str())?;
    writeln!(out, "enabled:     {}", user.enabled)?;
    writeln!(
        out,
        "home:        {}",
        user.home_description(&config.server.data_dir)
    )?;
    writeln!(
        out,
        "password:    {}",
        if user.password.is_some() {
            "set"
        } else {
            "not set"
        }
    )?;
    writeln!(out, "protocols:   {}", protocols.join(", "))?;
    let networks: Vec<String> = user
        .allowed_networks
        .iter()
        .map(ToString::to_string)
        .collect();
    writeln!(
        out,
        "networks:    {}",
        if networks.is_empty() {
            "any".to_owned()
        } else {
            networks.join(", ")
        }
    )?;
    let permissions: Vec<&str> = user.permissions.names().collect();
    writeln!(out, "permissions: {}", permissions.join(", "))?;
    for rule in &user.rules {
        let names: Vec<&str> = rule.permissions.names().collect();
        writeln!(out, "  {}: {}", rule.path, names.join(", "))?;
    }
    for folder in &user.folders {
        let source = match &folder.source {
            FolderSource::Dir(dir) => dir.display().to_string(),
            FolderSource::Object(location) => location.describe(""),
        };
        writeln!(
            out,
            "folder:      {} -> {source}{}",
            folder.path,
            if folder.read_only { " (read-only)" } else { "" }
        )?;
    }
    match user.umask {
        Some(umask) => writeln!(out, "umask:       {umask:03o}")?,
        None => writeln!(
            out,
            "umask:       {:03o} (server.umask)",
            config.server.umask
        )?,
    }
    if let Some(bytes) = user.quota.max_bytes {
        writeln!(out, "quota bytes: {bytes}")?;
    }
    if let Some(files) = user.quota.max_files {
        writeln!(out, "quota files: {files}")?;
    }
    writeln!(out, "key+password: {}", user.require_key_and_password)?;
    for key in &user.keys {
        writeln!(
            out,
            "key:         {} {}",
            public_key::fingerprint(key),
            key.algorithm()
        )?;
    }
    writeln!(out, "cert login:  {}", user.tls_client_certificate_login)?;
    for fingerprint in &user.tls_client_certificates {
        writeln!(out, "cert:        {fingerprint}")?;
    }
    Ok(())
}

/// `--umask`: the users file's syntax (octal digits up to 777).
fn parse_umask_arg(text: &str) -> Result<u32, String> {
    crate::config::parse_umask(text)
}
