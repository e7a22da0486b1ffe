//! Pure SFTP v3 protocol code: packet framing, typed requests and responses. No I/O.
