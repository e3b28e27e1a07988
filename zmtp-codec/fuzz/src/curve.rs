//! Shared by the CURVE targets: libzmq's test keys, and a splitter that cuts what one side
//! sends into greeting pieces and whole frames (the units the targets tamper with).

use std::sync::OnceLock;

use zmtp_codec::frame::{self, Framing};
use zmtp_codec::greeting::GREETING_LEN;
use zmtp_codec::{Config, CurveKeyPair, MechanismConfig, SocketType};

/// libzmq's test client secret key (doc/zmq_curve.adoc).
pub const CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";
/// libzmq's test server secret key (doc/zmq_curve.adoc).
pub const SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";

/// The client's long-term key pair (derived once: X25519 is the expensive part of a run).
pub fn client_keys() -> &'static CurveKeyPair {
    static KEYS: OnceLock<CurveKeyPair> = OnceLock::new();
    KEYS.get_or_init(|| CurveKeyPair::from_secret_z85(CLIENT_SECRET).expect("test key"))
}

/// The server's long-term key pair.
pub fn server_keys() -> &'static CurveKeyPair {
    static KEYS: OnceLock<CurveKeyPair> = OnceLock::new();
    KEYS.get_or_init(|| CurveKeyPair::from_secret_z85(SERVER_SECRET).expect("test key"))
}

/// A CURVE client configuration with the test keys.
pub fn client_config(t: SocketType) -> Config {
    Config::new(t).mechanism(MechanismConfig::curve_client(
        client_keys(),
        server_keys().public,
    ))
}

/// A CURVE server configuration with the test keys.
pub fn server_config(t: SocketType) -> Config {
    Config::new(t).mechanism(MechanismConfig::curve_server(server_keys()))
}

/// The first socket type a peer of type `t` may talk to.
pub fn compatible(t: SocketType) -> SocketType {
    *SocketType::all()
        .iter()
        .find(|&&p| t.is_compatible(p))
        .expect("every socket type has a peer type")
}

/// Cuts one side's outgoing stream (a well-formed ZMTP 3 stream: it comes from a real
/// connection) into units: the greeting, in the pieces it was sent in, then one unit per
/// frame.
#[derive(Debug, Default)]
pub struct Splitter {
    offset: usize,
    buf: Vec<u8>,
}

impl Splitter {
    /// Appends sent bytes; returns the units they complete, each with `true` for a piece
    /// of the greeting.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<(bool, Vec<u8>)> {
        let mut units = Vec::new();
        let mut bytes = bytes;
        if self.offset < GREETING_LEN {
            let n = (GREETING_LEN - self.offset).min(bytes.len());
            units.push((true, bytes[..n].to_vec()));
            self.offset += n;
            bytes = &bytes[n..];
        }
        self.buf.extend_from_slice(bytes);
        loop {
            let len = match frame::peek_header(&self.buf, Framing::V3, None) {
                Ok(Some(h)) => h.frame_len().expect("a frame we sent fits in memory"),
                Ok(None) => break,
                Err(e) => panic!("a real connection sent a bad frame: {e:?}"),
            };
            if self.buf.len() < len {
                break;
            }
            units.push((false, self.buf.drain(..len).collect()));
            self.offset += len;
        }
        units.retain(|(_, u)| !u.is_empty());
        units
    }
}
