//! What `ferryd serve` prints on the first start of a quick-start setup: the bootstrap user's
//! password and how to connect with common clients.

use crate::server::{BootstrapUser, BoundAddresses};

use super::failure::Failure;
use super::invocation::Invocation;
use super::output;

/// Shown once, on stdout, when the quick-start bootstrap user was just created.
pub(super) fn print_help(
    user: &BootstrapUser,
    addresses: BoundAddresses,
    ferryd: &Invocation,
) -> Result<(), Failure> {
    let BootstrapUser { name, password } = user;
    let mut out = output::stdout();
    writeln!(out)?;
    writeln!(out, "Created user {name:?} with password: {password}")?;
    // On a line of its own: the command may be long, and nothing around it gets pasted too.
    writeln!(out, "It is shown only this once. To change it, run:")?;
    writeln!(
        out,
        "  {}",
        ferryd.command(&["user", "passwd", name, "--random-password"])
    )?;
    writeln!(out)?;
    if let Some(address) = addresses.ftps_explicit {
        let (host, port) = (address.ip(), address.port());
        writeln!(
            out,
            "FTPS (explicit TLS):  FileZilla: Host ftpes://{host}  Port {port}  Logon Type Normal"
        )?;
        writeln!(
            out,
            "  curl --ssl-reqd -k --user '{name}:{password}' ftp://{host}:{port}/"
        )?;
        writeln!(out, "  lftp -u '{name},{password}' -e 'set ssl:verify-certificate no; ls; quit' ftp://{host}:{port}")?;
    }
    if let Some(address) = addresses.ftps_implicit {
        writeln!(
            out,
            "FTPS (implicit TLS):  curl -k --user '{name}:{password}' ftps://{}:{}/",
            address.ip(),
            address.port()
        )?;
    }
    if let Some(address) = addresses.sftp {
        let (host, port) = (address.ip(), address.port());
        writeln!(out, "SFTP:  FileZilla: Host sftp://{host}  Port {port}")?;
        writeln!(out, "  sftp -P {port} {name}@{host}")?;
        writeln!(
            out,
            "  curl -k --user '{name}:{password}' sftp://{host}:{port}/~/"
        )?;
    }
    writeln!(out)
}
