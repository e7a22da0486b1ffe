//! The PROXY protocol header (HAProxy's `proxy-protocol.txt`, versions 1 and 2), parsed from
//! bytes without I/O.
//!
//! [`parse`] looks at the bytes read so far and answers with the header, an error, or how many
//! more bytes it needs at least. It never asks for a byte past the end of a header, so the
//! reader can read exactly what it asks for and leave the protocol's first bytes (an SSH
//! identification, a TLS client hello) in the socket. The limits are checked before anything
//! is buffered: a version 1 line is at most [`V1_MAX_BYTES`], a version 2 header at most
//! [`MAX_HEADER_BYTES`] whatever its length field says.
//!
//! The address decoding itself is the `ppp` crate's; what is decided here is which headers
//! ferryd accepts: `PROXY` over TCP (v1 `TCP4`/`TCP6`, v2 `PROXY` with IPv4 or IPv6 stream
//! addresses) and the v2 `LOCAL` command (the proxy speaking for itself, e.g. a health check).
//! v1 `UNKNOWN`, UNIX sockets, datagrams and unspecified families are refused: ferryd would
//! not know who the client is.

use std::net::{IpAddr, SocketAddr};

use ppp::{v1, v2};

/// The longest version 1 header, CRLF included (the protocol's own limit).
pub const V1_MAX_BYTES: usize = 107;

/// The longest version 2 header ferryd reads: the 16 fixed bytes and 520 more, enough for two
/// UNIX paths or IPv6 addresses and the TLVs HAProxy adds; a longer one is refused before it is
/// read.
pub const MAX_HEADER_BYTES: usize = 536;

/// The fixed part of a version 2 header: signature, version and command, family, length.
const V2_FIXED_BYTES: usize = 16;

/// Every version 1 header starts with this.
const V1_PREFIX: &[u8] = b"PROXY ";

/// The shortest version 1 header, `PROXY UNKNOWN\r\n`.
const V1_MIN_BYTES: usize = 15;

/// What the bytes read so far amount to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A whole header of `length` bytes; what follows belongs to the proxied protocol.
    Complete {
        /// What it says.
        header: Header,
        /// How many of the bytes it took.
        length: usize,
    },
    /// Not decided yet: read at least this many more bytes (never past the header's end).
    NeedMore(usize),
}

/// A header ferryd accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// A proxied TCP connection: the client's address and the address it connected to.
    Proxied {
        /// The client (canonical: an IPv4-mapped IPv6 address becomes IPv4).
        source: SocketAddr,
        /// What the client connected to (the proxy's front end).
        destination: SocketAddr,
    },
    /// The v2 `LOCAL` command: the proxy connected on its own behalf (health checks); the
    /// connection's own peer is the client.
    Local,
}

/// Why the bytes are not a header ferryd accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// They start with neither signature.
    #[error("no PROXY protocol header (the first bytes are neither version 1 nor version 2)")]
    Missing,
    /// A version 1 line longer than the protocol allows, or a version 2 length over
    /// [`MAX_HEADER_BYTES`].
    #[error("PROXY protocol header longer than {0} bytes")]
    TooLong(usize),
    /// The signature is there but the rest does not parse.
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(String),
    /// Well-formed, but not a TCP connection over IPv4 or IPv6 (v1 `UNKNOWN`, UNIX sockets,
    /// UDP, an unspecified family).
    #[error("PROXY protocol header without a TCP client address ({0})")]
    Unsupported(&'static str),
}

/// Parses the bytes read so far from the start of a connection.
pub fn parse(bytes: &[u8]) -> Result<Parsed, HeaderError> {
    if bytes.is_empty() {
        return Ok(Parsed::NeedMore(1));
    }
    if is_prefix_of(bytes, v2::PROTOCOL_PREFIX) {
        return parse_v2(bytes);
    }
    if is_prefix_of(bytes, V1_PREFIX) {
        return parse_v1(bytes);
    }
    Err(HeaderError::Missing)
}

/// True when `bytes` could be the start of a header of either version: what a peer that is not
/// a trusted proxy must not send.
pub fn looks_like_header(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && (is_prefix_of(bytes, v2::PROTOCOL_PREFIX) || is_prefix_of(bytes, V1_PREFIX))
}

/// Whether `bytes` and `signature` agree over the shorter of the two.
fn is_prefix_of(bytes: &[u8], signature: &[u8]) -> bool {
    let common = bytes.len().min(signature.len());
    bytes[..common] == signature[..common]
}

fn parse_v1(bytes: &[u8]) -> Result<Parsed, HeaderError> {
    let Some(end) = bytes.iter().position(|&b| b == b'\n') else {
        if bytes.len() >= V1_MAX_BYTES {
            return Err(HeaderError::TooLong(V1_MAX_BYTES));
        }
        // The line ends in CRLF, and no header is shorter than the minimum: read up to that
        // at once, then byte by byte, so nothing after the line is taken.
        return Ok(Parsed::NeedMore(
            V1_MIN_BYTES.saturating_sub(bytes.len()).max(1),
        ));
    };
    let length = end + 1;
    if length > V1_MAX_BYTES {
        return Err(HeaderError::TooLong(V1_MAX_BYTES));
    }
    let line = &bytes[..length];
    if !line.ends_with(b"\r\n") {
        return Err(HeaderError::Malformed(
            "line does not end in CRLF".to_owned(),
        ));
    }
    let header =
        v1::Header::try_from(line).map_err(|error| HeaderError::Malformed(error.to_string()))?;
    let (source, destination) = match header.addresses {
        v1::Addresses::Tcp4(a) => (
            SocketAddr::new(IpAddr::V4(a.source_address), a.source_port),
            SocketAddr::new(IpAddr::V4(a.destination_address), a.destination_port),
        ),
        v1::Addresses::Tcp6(a) => (
            SocketAddr::new(IpAddr::V6(a.source_address), a.source_port),
            SocketAddr::new(IpAddr::V6(a.destination_address), a.destination_port),
        ),
        v1::Addresses::Unknown => return Err(HeaderError::Unsupported("v1 UNKNOWN")),
    };
    Ok(Parsed::Complete {
        header: proxied(source, destination),
        length,
    })
}

fn parse_v2(bytes: &[u8]) -> Result<Parsed, HeaderError> {
    if bytes.len() < V2_FIXED_BYTES {
        return Ok(Parsed::NeedMore(V2_FIXED_BYTES - bytes.len()));
    }
    let announced = usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
    let length = V2_FIXED_BYTES + announced;
    if length > MAX_HEADER_BYTES {
        return Err(HeaderError::TooLong(MAX_HEADER_BYTES));
    }
    if bytes.len() < length {
        return Ok(Parsed::NeedMore(length - bytes.len()));
    }
    let header = v2::Header::try_from(&bytes[..length])
        .map_err(|error| HeaderError::Malformed(error.to_string()))?;
    if header.command == v2::Command::Local {
        // The spec: a receiver ignores the address block of a LOCAL header, whatever it holds.
        return Ok(Parsed::Complete {
            header: Header::Local,
            length,
        });
    }
    if header.protocol != v2::Protocol::Stream {
        return Err(HeaderError::Unsupported("not a stream protocol"));
    }
    let (source, destination) = match header.addresses {
        v2::Addresses::IPv4(a) => (
            SocketAddr::new(IpAddr::V4(a.source_address), a.source_port),
            SocketAddr::new(IpAddr::V4(a.destination_address), a.destination_port),
        ),
        v2::Addresses::IPv6(a) => (
            SocketAddr::new(IpAddr::V6(a.source_address), a.source_port),
            SocketAddr::new(IpAddr::V6(a.destination_address), a.destination_port),
        ),
        v2::Addresses::Unix(_) => return Err(HeaderError::Unsupported("UNIX socket")),
        v2::Addresses::Unspecified => return Err(HeaderError::Unsupported("unspecified family")),
    };
    Ok(Parsed::Complete {
        header: proxied(source, destination),
        length,
    })
}

fn proxied(source: SocketAddr, destination: SocketAddr) -> Header {
    Header::Proxied {
        source: SocketAddr::new(source.ip().to_canonical(), source.port()),
        destination,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

    /// A v2 header: version 2 with `command`, then `family_protocol` and `body`.
    fn v2(command: u8, family_protocol: u8, body: &[u8]) -> Vec<u8> {
        let mut bytes = V2_SIGNATURE.to_vec();
        bytes.push(0x20 | command);
        bytes.push(family_protocol);
        bytes.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        bytes.extend_from_slice(body);
        bytes
    }

    fn tcp4_body() -> Vec<u8> {
        let mut body = vec![203, 0, 113, 7, 192, 0, 2, 1];
        body.extend_from_slice(&40000u16.to_be_bytes());
        body.extend_from_slice(&21u16.to_be_bytes());
        body
    }

    fn complete(bytes: &[u8]) -> (Header, usize) {
        match parse(bytes) {
            Ok(Parsed::Complete { header, length }) => (header, length),
            other => panic!("{bytes:?}: expected a header, got {other:?}"),
        }
    }

    fn proxied_from(source: &str, destination: &str) -> Header {
        Header::Proxied {
            source: source.parse().unwrap(),
            destination: destination.parse().unwrap(),
        }
    }

    #[test]
    fn v1_tcp4_and_tcp6_give_the_client_and_leave_what_follows() {
        let line = b"PROXY TCP4 203.0.113.7 192.0.2.1 40000 21\r\n";
        let mut bytes = line.to_vec();
        bytes.extend_from_slice(b"SSH-2.0-client\r\n");
        assert_eq!(
            complete(&bytes),
            (
                proxied_from("203.0.113.7:40000", "192.0.2.1:21"),
                line.len()
            )
        );
        let line = b"PROXY TCP6 2001:db8::7 2001:db8::1 40000 22\r\n";
        assert_eq!(
            complete(line),
            (
                proxied_from("[2001:db8::7]:40000", "[2001:db8::1]:22"),
                line.len()
            )
        );
    }

    #[test]
    fn v1_unknown_is_refused() {
        assert_eq!(
            parse(b"PROXY UNKNOWN\r\n"),
            Err(HeaderError::Unsupported("v1 UNKNOWN"))
        );
        assert!(matches!(
            parse(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"),
            Err(HeaderError::Unsupported(_))
        ));
    }

    #[test]
    fn v2_proxy_over_ipv4_and_ipv6() {
        let bytes = v2(1, 0x11, &tcp4_body());
        assert_eq!(
            complete(&bytes),
            (proxied_from("203.0.113.7:40000", "192.0.2.1:21"), 28)
        );
        let mut body = Vec::new();
        body.extend_from_slice(
            &"2001:db8::7"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        body.extend_from_slice(
            &"2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        body.extend_from_slice(&40000u16.to_be_bytes());
        body.extend_from_slice(&22u16.to_be_bytes());
        let bytes = v2(1, 0x21, &body);
        assert_eq!(
            complete(&bytes),
            (proxied_from("[2001:db8::7]:40000", "[2001:db8::1]:22"), 52)
        );
    }

    #[test]
    fn v2_mapped_ipv4_source_becomes_ipv4() {
        let mut body = Vec::new();
        body.extend_from_slice(
            &"::ffff:203.0.113.7"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        body.extend_from_slice(&"::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
        body.extend_from_slice(&[0, 1, 0, 2]);
        let (header, _) = complete(&v2(1, 0x21, &body));
        assert_eq!(header, proxied_from("203.0.113.7:1", "[::1]:2"));
    }

    #[test]
    fn v2_with_tlvs_takes_the_whole_announced_length() {
        let mut body = tcp4_body();
        body.extend_from_slice(&[0x04, 0x00, 0x01, 0x2a]);
        let mut bytes = v2(1, 0x11, &body);
        let length = bytes.len();
        bytes.extend_from_slice(b"\x16\x03\x01");
        assert_eq!(complete(&bytes).1, length);
    }

    #[test]
    fn v2_local_is_the_proxy_itself() {
        assert_eq!(complete(&v2(0, 0x00, &[])), (Header::Local, 16));
        // LOCAL with an address block: the block is ignored.
        assert_eq!(complete(&v2(0, 0x11, &tcp4_body())), (Header::Local, 28));
    }

    #[test]
    fn v2_families_without_a_tcp_client_are_refused() {
        assert_eq!(
            parse(&v2(1, 0x00, &[])),
            Err(HeaderError::Unsupported("not a stream protocol"))
        );
        assert_eq!(
            parse(&v2(1, 0x12, &tcp4_body())),
            Err(HeaderError::Unsupported("not a stream protocol"))
        );
        assert_eq!(
            parse(&v2(1, 0x31, &[0; 216])),
            Err(HeaderError::Unsupported("UNIX socket"))
        );
    }

    #[test]
    fn truncated_headers_ask_for_exactly_what_is_missing() {
        let full = v2(1, 0x11, &tcp4_body());
        assert_eq!(parse(&[]), Ok(Parsed::NeedMore(1)));
        assert_eq!(parse(&full[..5]), Ok(Parsed::NeedMore(11)));
        assert_eq!(parse(&full[..16]), Ok(Parsed::NeedMore(12)));
        assert_eq!(parse(&full[..27]), Ok(Parsed::NeedMore(1)));
        let line = b"PROXY TCP4 203.0.113.7 192.0.2.1 40000 21\r\n";
        assert_eq!(parse(b"P"), Ok(Parsed::NeedMore(14)));
        assert_eq!(parse(&line[..20]), Ok(Parsed::NeedMore(1)));
        assert_eq!(parse(&line[..line.len() - 1]), Ok(Parsed::NeedMore(1)));
    }

    #[test]
    fn reading_what_is_asked_for_never_passes_the_header() {
        let mut streams = vec![v2(1, 0x11, &tcp4_body()), v2(0, 0x00, &[])];
        streams.push(b"PROXY TCP4 203.0.113.7 192.0.2.1 40000 21\r\n".to_vec());
        streams.push(b"PROXY TCP6 ::1 ::1 1 2\r\n".to_vec());
        for header in streams {
            let mut stream = header.clone();
            stream.extend_from_slice(b"after");
            let mut read = 0;
            let length = loop {
                match parse(&stream[..read]).unwrap() {
                    Parsed::NeedMore(n) => read += n,
                    Parsed::Complete { length, .. } => break length,
                }
                assert!(read <= header.len(), "asked past the header: {header:?}");
            };
            assert_eq!(length, header.len());
        }
    }

    #[test]
    fn oversized_headers_are_refused_before_they_are_read() {
        let mut bytes = V2_SIGNATURE.to_vec();
        bytes.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert_eq!(parse(&bytes), Err(HeaderError::TooLong(MAX_HEADER_BYTES)));
        let largest = v2(1, 0x11, &[0; MAX_HEADER_BYTES - 16]);
        assert!(matches!(parse(&largest[..16]), Ok(Parsed::NeedMore(520))));
        let mut line = b"PROXY TCP4 ".to_vec();
        line.resize(V1_MAX_BYTES, b'1');
        assert_eq!(parse(&line), Err(HeaderError::TooLong(V1_MAX_BYTES)));
        line.extend_from_slice(b"\r\n");
        assert_eq!(parse(&line), Err(HeaderError::TooLong(V1_MAX_BYTES)));
    }

    #[test]
    fn garbage_is_not_a_header() {
        for bytes in [
            &b"USER anonymous\r\n"[..],
            b"SSH-2.0-OpenSSH\r\n",
            b"\x16\x03\x01",
            b"\r\n\r\nX",
        ] {
            assert_eq!(parse(bytes), Err(HeaderError::Missing), "{bytes:?}");
            assert!(!looks_like_header(bytes));
        }
        assert!(matches!(
            parse(b"PROXY TCP4 not-an-address 192.0.2.1 1 2\r\n"),
            Err(HeaderError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"PROXY TCP4 203.0.113.7 192.0.2.1 1 2\n"),
            Err(HeaderError::Malformed(_))
        ));
        let mut bad_version = v2(1, 0x11, &tcp4_body());
        bad_version[12] = 0x11;
        assert!(matches!(
            parse(&bad_version),
            Err(HeaderError::Malformed(_))
        ));
        let short_block = v2(1, 0x11, &[1, 2, 3]);
        assert!(matches!(
            parse(&short_block),
            Err(HeaderError::Malformed(_))
        ));
        assert!(looks_like_header(b"PROXY TCP4"));
        assert!(looks_like_header(&V2_SIGNATURE[..4]));
    }
}
