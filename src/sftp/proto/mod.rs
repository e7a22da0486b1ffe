//! Pure SFTP v3 protocol code: packet framing, typed requests and responses. No I/O.
//!
//! Implements draft-ietf-secsh-filexfer-02, the version OpenSSH speaks
//! (<https://www.openssh.com/txt/draft-ietf-secsh-filexfer-02.txt>), plus the extended
//! requests of OpenSSH's `PROTOCOL` file
//! (<https://github.com/openssh/openssh-portable/blob/master/PROTOCOL>) and of
//! draft-ietf-secsh-filexfer-extensions-00 (`check-file-*`, `copy-data`, `home-directory`).
//!
//! The request loop uses it in this order: [`PacketDecoder`] splits the channel's bytes into
//! packet bodies, [`parse_init`] reads the first one, [`decode_request`] every later one, and the
//! `encode_*` functions append framed replies to the output buffer.
//!
//! Everything here sees untrusted bytes, so: no panics on any input, every length is checked
//! against [`SFTP_MAX_PACKET_BYTES`] or the bytes actually present before anything is sized from
//! it, and only `std`, `bytes` and `thiserror` are used, so this module can become its own crate.

pub mod attrs;
pub mod packet;
pub mod request;
pub mod response;
pub mod scp;
pub mod wire;

pub use attrs::FileAttributes;
pub use packet::{
    PacketDecoder, PacketError, MAX_READ_LENGTH, MAX_WRITE_LENGTH, SFTP_MAX_PACKET_BYTES,
};
pub use request::{decode_request, parse_init, DecodeError, OpenFlags, Request, RequestKind};
pub use response::{
    data_header, encode_attrs, encode_check_file_reply, encode_data, encode_data_header,
    encode_extended_reply, encode_handle, encode_limits_reply, encode_name, encode_status,
    encode_statvfs_reply, encode_users_groups_reply, encode_version, EncodeError, Limits,
    NameEntry, StatusCode, Statvfs, DATA_REPLY_HEADER_BYTES, OPENSSH_EXTENSIONS, SFTP_VERSION,
};
