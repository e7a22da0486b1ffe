//! `TYPE A` line-ending conversion for data transfers (RFC 959 §3.1.1.1): the network form of
//! an ASCII file ends lines with CRLF; ferryd stores files with the Unix LF.
//!
//! Both converters are streaming and keep the one byte of state a chunk boundary can split.

/// Converts stored text to the network form: every LF not already preceded by CR becomes CRLF.
#[derive(Debug, Default)]
pub struct ToNetwork {
    last_was_cr: bool,
}

impl ToNetwork {
    /// A converter at the start of a file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the converted form of `input` to `out`.
    pub fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 16);
        for &byte in input {
            if byte == b'\n' && !self.last_was_cr {
                out.push(b'\r');
            }
            out.push(byte);
            self.last_was_cr = byte == b'\r';
        }
    }
}

/// Converts the network form to stored text: CRLF becomes LF; a lone CR is kept.
#[derive(Debug, Default)]
pub struct FromNetwork {
    pending_cr: bool,
}

impl FromNetwork {
    /// A converter at the start of a file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the converted form of `input` to `out`; a CR at the end is held back until the
    /// next byte shows whether it starts a CRLF.
    pub fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len());
        for &byte in input {
            if std::mem::take(&mut self.pending_cr) && byte != b'\n' {
                out.push(b'\r');
            }
            if byte == b'\r' {
                self.pending_cr = true;
            } else {
                out.push(byte);
            }
        }
    }

    /// Appends a CR held back at the very end of the input.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            out.push(b'\r');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_network(chunks: &[&[u8]]) -> Vec<u8> {
        let mut converter = ToNetwork::new();
        let mut out = Vec::new();
        for chunk in chunks {
            converter.convert(chunk, &mut out);
        }
        out
    }

    fn from_network(chunks: &[&[u8]]) -> Vec<u8> {
        let mut converter = FromNetwork::new();
        let mut out = Vec::new();
        for chunk in chunks {
            converter.convert(chunk, &mut out);
        }
        converter.finish(&mut out);
        out
    }

    #[test]
    fn lf_becomes_crlf_once_even_across_chunks() {
        assert_eq!(to_network(&[b"a\nb\r\nc"]), b"a\r\nb\r\nc");
        assert_eq!(to_network(&[b"a\r", b"\nb\n"]), b"a\r\nb\r\n");
        assert_eq!(to_network(&[b"\n", b"\n"]), b"\r\n\r\n");
    }

    #[test]
    fn crlf_becomes_lf_and_lone_cr_stays() {
        assert_eq!(from_network(&[b"a\r\nb\rc\r\n"]), b"a\nb\rc\n");
        assert_eq!(from_network(&[b"a\r", b"\nb\r"]), b"a\nb\r");
        assert_eq!(from_network(&[b"\r", b"\r", b"\n"]), b"\r\n");
    }
}
