//! Pure FTP protocol code: framing (RFC 959 §4.1.3), commands (RFC 959 §4.1 and extensions),
//! replies (RFC 959 §4.2), data-connection addresses (RFC 959 §4.1.2, RFC 2428) and time values
//! (RFC 3659 §2.3), and `TYPE A` line-ending conversion (RFC 959 §3.1.1.1).
//!
//! Nothing here does I/O or depends on tokio, `vfs` or session state: the control task feeds bytes
//! to [`LineDecoder`], hands each line to [`parse`], and sends what [`Reply::encode`] produces.
//! Every input is bounded by [`MAX_COMMAND_LINE_BYTES`].

pub mod address;
pub mod ascii;
pub mod command;
pub mod line;
pub mod reply;
pub mod timestamp;

pub use address::{format_epsv, format_pasv, parse_eprt, parse_port, AddressError};
pub use command::{
    parse, AuthMechanism, ChecksumAlgorithm, Command, EpsvArg, Opts, ParseError, Password,
    ProtectionLevel, Site, TransferType,
};
pub use line::{LineDecoder, LineError, MAX_COMMAND_LINE_BYTES};
pub use reply::{Reply, ReplyCode};
pub use timestamp::{Timestamp, TimestampError};
