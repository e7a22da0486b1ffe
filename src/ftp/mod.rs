//! FTP front end: explicit and implicit FTPS listeners, the control channel and data channels.

pub mod certificate;
pub mod proto;
