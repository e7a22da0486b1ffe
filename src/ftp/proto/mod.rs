//! Pure FTP protocol code: framing, command parsing, replies and address formats. No I/O.
