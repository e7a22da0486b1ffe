//! Data-connection addresses: PORT and PASV (RFC 959 §4.1.2, `h1,h2,h3,h4,p1,p2`), EPRT and
//! EPSV (RFC 2428 §2 and §3, `|net-prt|net-addr|tcp-port|`).
//!
//! Parsing only checks syntax; whether the address is acceptable (same host as the control
//! connection, no FXP) is the caller's policy.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

/// Why a PORT or EPRT argument was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Wrong number of fields, bad delimiters or a non-numeric field.
    #[error("{}", self.reason())]
    Malformed,
    /// A PORT byte above 255.
    #[error("{}", self.reason())]
    ByteOutOfRange,
    /// The port is 0 or above 65535.
    #[error("{}", self.reason())]
    InvalidPort,
    /// The network address does not parse as the announced protocol's address.
    #[error("{}", self.reason())]
    InvalidAddress,
    /// An EPRT protocol number other than 1 (IPv4) or 2 (IPv6); RFC 2428 §2 asks for reply 522.
    #[error("{}", self.reason())]
    UnsupportedProtocol,
}

impl AddressError {
    /// A short client-safe description, usable as reply text.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed address argument",
            Self::ByteOutOfRange => "address fields must be 0-255",
            Self::InvalidPort => "port must be 1-65535",
            Self::InvalidAddress => "invalid network address",
            Self::UnsupportedProtocol => "network protocol not supported, use (1,2)",
        }
    }
}

/// Parses a PORT argument `h1,h2,h3,h4,p1,p2` (whitespace around fields tolerated).
pub fn parse_port(argument: &str) -> Result<SocketAddrV4, AddressError> {
    let mut bytes = [0u8; 6];
    let mut fields = argument.split(',');
    for slot in &mut bytes {
        let field = fields.next().ok_or(AddressError::Malformed)?.trim();
        *slot = u8::try_from(parse_decimal(field, 3)?).map_err(|_| AddressError::ByteOutOfRange)?;
    }
    if fields.next().is_some() {
        return Err(AddressError::Malformed);
    }
    let [h1, h2, h3, h4, p1, p2] = bytes;
    let port = u16::from_be_bytes([p1, p2]);
    if port == 0 {
        return Err(AddressError::InvalidPort);
    }
    Ok(SocketAddrV4::new(Ipv4Addr::new(h1, h2, h3, h4), port))
}

/// Parses an EPRT argument such as `|1|132.235.1.2|6275|` or `|2|::1|6275|`.
///
/// The delimiter is the first character and may be any of ASCII 33..=126 (RFC 2428 §2).
pub fn parse_eprt(argument: &str) -> Result<SocketAddr, AddressError> {
    let argument = argument.trim();
    let delimiter = argument.chars().next().ok_or(AddressError::Malformed)?;
    if !matches!(delimiter, '!'..='~') {
        return Err(AddressError::Malformed);
    }
    let mut fields = argument.split(delimiter);
    let mut next = || fields.next().ok_or(AddressError::Malformed);
    let (leading, protocol, address, port, trailing) =
        (next()?, next()?, next()?, next()?, next()?);
    if !leading.is_empty() || !trailing.is_empty() || fields.next().is_some() {
        return Err(AddressError::Malformed);
    }
    let port = u16::try_from(parse_decimal(port, 5)?).map_err(|_| AddressError::InvalidPort)?;
    if port == 0 {
        return Err(AddressError::InvalidPort);
    }
    let ip = match parse_decimal(protocol, 3)? {
        1 => address.parse::<Ipv4Addr>().map(Into::into),
        2 => address.parse::<Ipv6Addr>().map(Into::into),
        _ => return Err(AddressError::UnsupportedProtocol),
    }
    .map_err(|_| AddressError::InvalidAddress)?;
    Ok(SocketAddr::new(ip, port))
}

/// The text of a 227 reply: `Entering Passive Mode (h1,h2,h3,h4,p1,p2).`
pub fn format_pasv(ip: Ipv4Addr, port: u16) -> String {
    let [h1, h2, h3, h4] = ip.octets();
    let [p1, p2] = port.to_be_bytes();
    format!("Entering Passive Mode ({h1},{h2},{h3},{h4},{p1},{p2}).")
}

/// The text of a 229 reply: `Entering Extended Passive Mode (|||port|)`.
pub fn format_epsv(port: u16) -> String {
    format!("Entering Extended Passive Mode (|||{port}|)")
}

/// A non-empty run of at most `max_digits` ASCII digits; the cap keeps the value far from
/// overflow before any range check.
fn parse_decimal(field: &str, max_digits: usize) -> Result<u32, AddressError> {
    if field.is_empty() || field.len() > max_digits || !field.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddressError::Malformed);
    }
    Ok(field.bytes().fold(0, |n, b| n * 10 + u32::from(b - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<T: std::fmt::Display>(
        parse: fn(&str) -> Result<T, AddressError>,
        input: &str,
        expected: Result<&str, AddressError>,
    ) {
        let got = parse(input).map(|address| address.to_string());
        assert_eq!(got, expected.map(str::to_owned), "{input:?}");
    }

    #[test]
    fn port_cases() {
        let cases: &[(&str, Result<&str, AddressError>)] = &[
            ("127,0,0,1,4,1", Ok("127.0.0.1:1025")),
            (" 10, 0 ,0,2 ,0,21 ", Ok("10.0.0.2:21")),
            ("192,168,1,1,255,255", Ok("192.168.1.1:65535")),
            ("127,0,0,1,0,0", Err(AddressError::InvalidPort)),
            ("127,0,0,256,4,1", Err(AddressError::ByteOutOfRange)),
            ("127,0,0,1,4,256", Err(AddressError::ByteOutOfRange)),
            ("127,0,0,1,4", Err(AddressError::Malformed)),
            ("127,0,0,1,4,1,9", Err(AddressError::Malformed)),
            ("127,0,0,1,4,", Err(AddressError::Malformed)),
            ("127,0,0,-1,4,1", Err(AddressError::Malformed)),
            ("127,0,0,0001,4,1", Err(AddressError::Malformed)),
            ("127.0.0.1,4,1", Err(AddressError::Malformed)),
            ("", Err(AddressError::Malformed)),
        ];
        for (input, expected) in cases {
            check(parse_port, input, *expected);
        }
    }

    #[test]
    fn eprt_cases() {
        let cases: &[(&str, Result<&str, AddressError>)] = &[
            ("|1|132.235.1.2|6275|", Ok("132.235.1.2:6275")),
            (
                "|2|1080::8:800:200C:417A|5282|",
                Ok("[1080::8:800:200c:417a]:5282"),
            ),
            ("|2|::1|6275|", Ok("[::1]:6275")),
            ("!1!10.0.0.1!21!", Ok("10.0.0.1:21")),
            ("~2~::ffff:10.0.0.1~21~", Ok("[::ffff:10.0.0.1]:21")),
            ("|1|132.235.1.2|0|", Err(AddressError::InvalidPort)),
            ("|1|132.235.1.2|65536|", Err(AddressError::InvalidPort)),
            ("|1|132.235.1.2|123456|", Err(AddressError::Malformed)),
            (
                "|3|132.235.1.2|6275|",
                Err(AddressError::UnsupportedProtocol),
            ),
            ("|1|::1|6275|", Err(AddressError::InvalidAddress)),
            ("|2|132.235.1.2|6275|", Err(AddressError::InvalidAddress)),
            ("|1|300.1.1.1|6275|", Err(AddressError::InvalidAddress)),
            ("|1|132.235.1.2|6275", Err(AddressError::Malformed)),
            ("|1|132.235.1.2|6275|x", Err(AddressError::Malformed)),
            ("|1|132.235.1.2|", Err(AddressError::Malformed)),
            ("|x|132.235.1.2|6275|", Err(AddressError::Malformed)),
            (" 1 132.235.1.2 6275 ", Err(AddressError::Malformed)),
            ("é1é1.2.3.4é5é", Err(AddressError::Malformed)),
            ("", Err(AddressError::Malformed)),
        ];
        for (input, expected) in cases {
            check(parse_eprt, input, *expected);
        }
    }

    #[test]
    fn passive_reply_texts() {
        let pasv = format_pasv(Ipv4Addr::new(192, 168, 0, 1), 50_000);
        assert_eq!(pasv, "Entering Passive Mode (192,168,0,1,195,80).");
        assert_eq!(
            format_epsv(50_000),
            "Entering Extended Passive Mode (|||50000|)"
        );
    }
}
