//! The greeting (RFC 23 §"The Greeting"), sent in the three steps libzmq uses.
//!
//! libzmq sends the 10-byte signature, then its major version once it has seen the peer's
//! signature, then the rest once it has seen the peer's major version. Waiting for more than
//! the peer's signature before sending anything would deadlock against it.

use bytes::{BufMut, BytesMut};

use crate::Error;

/// Length of the signature.
pub const SIGNATURE_LEN: usize = 10;
/// Length of a ZMTP 3.x greeting.
pub const GREETING_LEN: usize = 64;
/// Length of a ZMTP 2.0 (and versioned 1.0) greeting: signature, revision, socket type.
pub const V2_GREETING_LEN: usize = 12;
/// Offset of the major version (ZMTP 2.0: revision).
pub const MAJOR_AT: usize = 10;
/// Offset of the minor version (ZMTP 2.0: socket type).
pub const MINOR_AT: usize = 11;
/// Offset of the mechanism name.
pub const MECHANISM_AT: usize = 12;
/// Offset of the as-server flag.
pub const AS_SERVER_AT: usize = 32;

/// Our signature: `FF`, 8 bytes of padding, `7F`.
///
/// libzmq writes the padding as the big-endian value `routing-id length + 1`, so that to a
/// ZMTP 1.0 peer the signature reads as the header of the routing-id message; we do the same.
pub fn signature(routing_id_len: usize) -> [u8; SIGNATURE_LEN] {
    let mut sig = [0u8; SIGNATURE_LEN];
    sig[0] = 0xFF;
    sig[1..9].copy_from_slice(&(routing_id_len as u64 + 1).to_be_bytes());
    sig[9] = 0x7F;
    sig
}

/// The part of a 3.x greeting after the major version: minor, mechanism, as-server, filler.
pub fn encode_rest(out: &mut BytesMut, minor: u8, mechanism: &str, as_server: bool) {
    out.put_u8(minor);
    let mut name = [0u8; 20];
    name[..mechanism.len()].copy_from_slice(mechanism.as_bytes());
    out.put_slice(&name);
    out.put_u8(u8::from(as_server));
    out.put_slice(&[0u8; 31]);
}

/// What the first bytes of the peer's stream say about its protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    /// Not enough bytes yet.
    NeedMore,
    /// An unversioned ZMTP 1.0 peer: the bytes are its routing-id message in 1.0 framing.
    Unversioned,
    /// A versioned peer: its signature is complete.
    Versioned,
}

/// Looks at the peer's first bytes (libzmq's rule): a first byte other than `FF`, or bit 0
/// of byte 9 clear, means an unversioned ZMTP 1.0 peer.
pub fn detect(peer: &[u8]) -> Detected {
    match peer.first() {
        None => Detected::NeedMore,
        Some(&b) if b != 0xFF => Detected::Unversioned,
        _ if peer.len() < SIGNATURE_LEN => Detected::NeedMore,
        _ if peer[9] & 0x01 == 0 => Detected::Unversioned,
        _ => Detected::Versioned,
    }
}

/// The peer's ZMTP 3.x greeting, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerGreeting {
    /// Major version (3 or more).
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Mechanism name without the NUL padding.
    pub mechanism: String,
    /// The as-server flag.
    pub as_server: bool,
}

impl PeerGreeting {
    /// Parses a complete 64-byte greeting.
    pub fn parse(g: &[u8; GREETING_LEN]) -> Result<PeerGreeting, Error> {
        if g[0] != 0xFF || g[9] & 0x01 == 0 {
            return Err(Error::BadSignature);
        }
        let field = &g[MECHANISM_AT..AS_SERVER_AT];
        let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
        let (name, padding) = field.split_at(end);
        if name.is_empty()
            || !name
                .iter()
                .all(|&c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
            || padding.iter().any(|&b| b != 0)
        {
            return Err(Error::BadMechanismName);
        }
        Ok(PeerGreeting {
            major: g[MAJOR_AT],
            minor: g[MINOR_AT],
            mechanism: String::from_utf8_lossy(name).into_owned(),
            as_server: g[AS_SERVER_AT] & 0x01 != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn greeting(mech: &str, minor: u8, as_server: bool) -> [u8; GREETING_LEN] {
        let mut out = BytesMut::new();
        out.put_slice(&signature(0));
        out.put_u8(3);
        encode_rest(&mut out, minor, mech, as_server);
        out[..].try_into().unwrap()
    }

    #[test]
    fn signature_padding_is_routing_id_len_plus_one() {
        assert_eq!(signature(0), [0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F]);
        assert_eq!(signature(5)[8], 6);
    }

    #[test]
    fn full_greeting_layout() {
        let g = greeting("NULL", 1, false);
        assert_eq!(&g[10..16], b"\x03\x01NULL");
        assert!(g[16..].iter().all(|&b| b == 0));
        let p = PeerGreeting::parse(&g).unwrap();
        assert_eq!(
            p,
            PeerGreeting {
                major: 3,
                minor: 1,
                mechanism: "NULL".into(),
                as_server: false
            }
        );
        let p = PeerGreeting::parse(&greeting("PLAIN", 0, true)).unwrap();
        assert!(p.as_server && p.minor == 0 && p.mechanism == "PLAIN");
    }

    #[test]
    fn detection() {
        assert_eq!(detect(&[]), Detected::NeedMore);
        assert_eq!(detect(&[0x01, 0x00]), Detected::Unversioned);
        assert_eq!(detect(&[0xFF, 0, 0]), Detected::NeedMore);
        assert_eq!(
            detect(&[0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x00]),
            Detected::Unversioned
        );
        assert_eq!(detect(&signature(0)), Detected::Versioned);
    }

    #[test]
    fn bad_greetings() {
        let mut g = greeting("NULL", 1, false);
        g[0] = 0xFE;
        assert_eq!(PeerGreeting::parse(&g), Err(Error::BadSignature));
        let mut g = greeting("NULL", 1, false);
        g[12] = 0;
        assert_eq!(PeerGreeting::parse(&g), Err(Error::BadMechanismName));
        let mut g = greeting("NULL", 1, false);
        g[20] = b'X';
        assert_eq!(PeerGreeting::parse(&g), Err(Error::BadMechanismName));
        let mut g = greeting("NULL", 1, false);
        g[13] = b'u';
        assert_eq!(PeerGreeting::parse(&g), Err(Error::BadMechanismName));
    }
}
