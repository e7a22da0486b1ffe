//! What `ferryd serve` prints on the first start of a quick-start setup: the bootstrap user's
//! password and how to connect with common clients.

use crate::server::{BootstrapUser, BoundAddresses};

use super::invocation::Invocation;

/// Shown once, on stdout, when the quick-start bootstrap user was just created.
pub(super) fn print_help(user: &BootstrapUser, addresses: BoundAddresses, ferryd: &Invocation) {
    let BootstrapUser { name, password } = user;
    println!();
    println!("Created user {name:?} with password: {password}");
    // On a line of its own: the command may be long, and nothing around it gets pasted too.
    println!("It is shown only this once. To change it, run:");
    println!(
        "  {}",
        ferryd.command(&["user", "passwd", name, "--random-password"])
    );
    println!();
    if let Some(address) = addresses.ftps_explicit {
        let (host, port) = (address.ip(), address.port());
        println!(
            "FTPS (explicit TLS):  FileZilla: Host ftpes://{host}  Port {port}  Logon Type Normal"
        );
        println!("  curl --ssl-reqd -k --user '{name}:{password}' ftp://{host}:{port}/");
        println!("  lftp -u '{name},{password}' -e 'set ssl:verify-certificate no; ls; quit' ftp://{host}:{port}");
    }
    if let Some(address) = addresses.ftps_implicit {
        println!(
            "FTPS (implicit TLS):  curl -k --user '{name}:{password}' ftps://{}:{}/",
            address.ip(),
            address.port()
        );
    }
    if let Some(address) = addresses.sftp {
        let (host, port) = (address.ip(), address.port());
        println!("SFTP:  FileZilla: Host sftp://{host}  Port {port}");
        println!("  sftp -P {port} {name}@{host}");
        println!("  curl -k --user '{name}:{password}' sftp://{host}:{port}/~/");
    }
    println!();
}
