//! SFTP front end: the SSH server and the SFTP v3 request loop.

pub mod host_keys;
pub mod proto;
