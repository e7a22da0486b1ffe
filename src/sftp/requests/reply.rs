//! Encoding a handler's answer: `SSH_FXP_STATUS` replies and success bodies that must fit a
//! packet.

use bytes::BytesMut;

use crate::sftp::errors::Failure;
use crate::sftp::proto::{encode_status, EncodeError, StatusCode};

/// The STATUS reply for a handle the reader could not find.
pub(crate) fn invalid_handle(id: u32) -> BytesMut {
    let failure = Failure::invalid_handle();
    status(id, failure.code, &failure.message)
}

/// A STATUS reply.
pub(crate) fn status(id: u32, code: StatusCode, message: &str) -> BytesMut {
    let mut out = BytesMut::with_capacity(64);
    // A status with a short fixed message always fits; if a message were ever too long, send
    // the code with the generic text rather than nothing.
    if encode_status(&mut out, id, code, message).is_err() {
        let _ = encode_status(&mut out, id, code, code.message());
    }
    out
}

/// `SSH_FX_OK`.
pub(crate) fn ok(id: u32) -> BytesMut {
    status(id, StatusCode::Ok, StatusCode::Ok.message())
}

/// Encodes a success reply; a reply too large for a packet becomes a failure.
pub(crate) fn encode(
    write: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
) -> Result<BytesMut, Failure> {
    let mut out = BytesMut::new();
    write(&mut out).map_err(|error| Failure::new(StatusCode::Failure, error.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overlong_status_message_falls_back_to_the_generic_text() {
        let long = "x".repeat(300 * 1024);
        let out = status(7, StatusCode::Failure, &long);
        let mut expected = BytesMut::new();
        encode_status(
            &mut expected,
            7,
            StatusCode::Failure,
            StatusCode::Failure.message(),
        )
        .unwrap();
        assert_eq!(out, expected);
    }
}
