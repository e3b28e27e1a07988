//! The CURVE mechanism (RFC 25, CurveZMQ RFC 26): HELLO → WELCOME → INITIATE → READY, then
//! every frame travels inside a MESSAGE box.
//!
//! Boxes are NaCl `crypto_box` (X25519 + XSalsa20-Poly1305): the handshake's with
//! `crypto_box::SalsaBox`, the MESSAGE boxes after it with `nacl.rs` (the same construction,
//! written for short messages); the server's cookie is a `crypto_secretbox` under a
//! per-handshake random key. On the wire a
//! box is the 16-byte Poly1305 tag followed by the ciphertext (NaCl's layout without its
//! zero padding). Nonces are a 16-byte prefix plus a big-endian 8-byte counter ("short
//! nonce"), or an 8-byte prefix plus 16 random bytes ("long nonce").
//!
//! Short nonces strictly increase per direction: the client sends HELLO 1, INITIATE 2, then
//! MESSAGE 3, 4, …; the server sends READY 1, then MESSAGE 2, 3, …. A receiver rejects any
//! short nonce not greater than the last one it accepted, so a replayed or reordered
//! MESSAGE kills the connection.

mod client;
mod keys;
mod nacl;
mod server;

use bytes::{BufMut, Bytes, BytesMut};
use crypto_box::aead::rand_core::RngCore;
use crypto_box::aead::{AeadInPlace, OsRng};
use crypto_box::{Nonce, SalsaBox};

use crate::command;
use crate::frame::{self, Frame, Framing};
use crate::mechanism::{AuthReply, AuthRequest, Mechanism, Ours, Result, Step};
use crate::{Error, Metadata};

pub(crate) use client::CurveClient;
pub use keys::{CurveKeyPair, CurveSecretKey};
pub(crate) use server::CurveServer;

/// Size of a box's Poly1305 tag: a box is this much larger than what it holds.
pub const BOX_OVERHEAD: usize = 16;
/// HELLO command body size (name included).
pub const HELLO_SIZE: usize = 200;
/// WELCOME command body size.
pub const WELCOME_SIZE: usize = 168;
/// Smallest INITIATE command body (no metadata).
pub const MIN_INITIATE_SIZE: usize = 257;
/// Smallest READY command body (no metadata).
pub const MIN_READY_SIZE: usize = 30;
/// Smallest MESSAGE command body (empty payload).
pub const MIN_MESSAGE_SIZE: usize = 33;

const COOKIE_SIZE: usize = 16 + 32 + 32 + BOX_OVERHEAD;
const VOUCH_SIZE: usize = 16 + 32 + 32 + BOX_OVERHEAD;

const HELLO_PREFIX: &[u8; 16] = b"CurveZMQHELLO---";
const INITIATE_PREFIX: &[u8; 16] = b"CurveZMQINITIATE";
const READY_PREFIX: &[u8; 16] = b"CurveZMQREADY---";
const MESSAGE_FROM_CLIENT: &[u8; 16] = b"CurveZMQMESSAGEC";
const MESSAGE_FROM_SERVER: &[u8; 16] = b"CurveZMQMESSAGES";
const WELCOME_PREFIX: &[u8; 8] = b"WELCOME-";
const COOKIE_PREFIX: &[u8; 8] = b"COOKIE--";
const VOUCH_PREFIX: &[u8; 8] = b"VOUCH---";

/// `07 MESSAGE`: the name part of every MESSAGE command.
const MESSAGE_NAME: &[u8; 8] = b"\x07MESSAGE";
/// Payload flag bits inside a MESSAGE box.
const PAYLOAD_MORE: u8 = 0x01;
const PAYLOAD_COMMAND: u8 = 0x02;

/// A 24-byte nonce from a 16-byte prefix and a short (counter) nonce.
fn short_nonce(prefix: &[u8; 16], short: u64) -> Nonce {
    let mut n = Nonce::default();
    n[..16].copy_from_slice(prefix);
    n[16..].copy_from_slice(&short.to_be_bytes());
    n
}

/// A 24-byte nonce from an 8-byte prefix and a 16-byte long (random) nonce.
fn long_nonce(prefix: &[u8; 8], long: &[u8]) -> Nonce {
    let mut n = Nonce::default();
    n[..8].copy_from_slice(prefix);
    n[8..].copy_from_slice(long);
    n
}

/// Fills `buf` from the operating system's random source.
fn random(buf: &mut [u8]) -> Result<(), Error> {
    OsRng
        .try_fill_bytes(buf)
        .map_err(|_| Error::RandomnessUnavailable)
}

/// A fresh transient (per-connection) key pair.
fn transient_keypair() -> Result<(crypto_box::SecretKey, crypto_box::PublicKey), Error> {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    random(&mut bytes[..])?;
    let secret = crypto_box::SecretKey::from_bytes(*bytes);
    let public = secret.public_key();
    Ok((secret, public))
}

/// A NaCl box or secretbox (24-byte nonces, 16-byte tags), sealed and opened in place:
/// RustCrypto's `crypto_box`/`crypto_secretbox` for the handshake's boxes (each used once
/// or twice), [`nacl::BoxKey`] for the traffic, where every frame pays a box's setup.
trait Sealer {
    /// Encrypts `data` in place; its tag.
    fn seal_in_place(&self, nonce: &Nonce, data: &mut [u8]) -> [u8; BOX_OVERHEAD];
    /// Checks `tag` and decrypts `data` in place; `false` if the tag does not match.
    fn open_in_place(&self, nonce: &Nonce, data: &mut [u8], tag: &[u8; BOX_OVERHEAD]) -> bool;
}

macro_rules! rustcrypto_sealer {
    ($($t:ty),*) => {$(
        impl Sealer for $t {
            fn seal_in_place(&self, nonce: &Nonce, data: &mut [u8]) -> [u8; BOX_OVERHEAD] {
                self.encrypt_in_place_detached(nonce, b"", data)
                    // Only non-empty associated data makes XSalsa20-Poly1305 sealing fail.
                    .expect("sealing without associated data cannot fail")
                    .into()
            }
            fn open_in_place(&self, nonce: &Nonce, data: &mut [u8], tag: &[u8; BOX_OVERHEAD]) -> bool {
                self.decrypt_in_place_detached(nonce, b"", data, tag.into()).is_ok()
            }
        }
    )*};
}

rustcrypto_sealer!(SalsaBox, crypto_secretbox::XSalsa20Poly1305);

impl Sealer for nacl::BoxKey {
    fn seal_in_place(&self, nonce: &Nonce, data: &mut [u8]) -> [u8; BOX_OVERHEAD] {
        self.seal(nonce.as_ref(), data)
    }
    fn open_in_place(&self, nonce: &Nonce, data: &mut [u8], tag: &[u8; BOX_OVERHEAD]) -> bool {
        self.open(nonce.as_ref(), data, tag)
    }
}

/// Appends `Box[plaintext]` (tag, then ciphertext) to `out`; `write` appends the plaintext.
fn seal(
    cipher: &impl Sealer,
    nonce: &Nonce,
    out: &mut BytesMut,
    write: impl FnOnce(&mut BytesMut),
) {
    let tag_at = out.len();
    out.put_bytes(0, BOX_OVERHEAD);
    write(out);
    let tag = cipher.seal_in_place(nonce, &mut out[tag_at + BOX_OVERHEAD..]);
    out[tag_at..tag_at + BOX_OVERHEAD].copy_from_slice(&tag);
}

/// Opens a box (tag, then ciphertext); `None` if it was not sealed by the expected
/// keys under this nonce, or was altered.
fn open(cipher: &impl Sealer, nonce: &Nonce, sealed: &[u8]) -> Option<BytesMut> {
    if sealed.len() < BOX_OVERHEAD {
        return None;
    }
    let (tag, ciphertext) = sealed.split_at(BOX_OVERHEAD);
    let tag: &[u8; BOX_OVERHEAD] = tag.try_into().ok()?;
    let mut plain = BytesMut::from(ciphertext);
    cipher
        .open_in_place(nonce, &mut plain, tag)
        .then_some(plain)
}

fn malformed(command: &'static str, reason: &'static str) -> Error {
    Error::MalformedMechanismCommand { command, reason }
}

/// Writes a whole command frame whose body is built by `write` (name included).
fn command_frame(out: &mut BytesMut, size_hint: usize, write: impl FnOnce(&mut BytesMut)) {
    let mut body = BytesMut::with_capacity(size_hint);
    write(&mut body);
    frame::encode(out, Framing::V3, false, true, &body);
}

/// Our short-nonce counter and the peer's last accepted short nonce.
#[derive(Debug)]
struct ShortNonces {
    /// The next short nonce we send.
    next: u64,
    /// The highest short nonce accepted from the peer (0: none yet).
    peer_last: u64,
}

impl ShortNonces {
    fn new() -> Self {
        ShortNonces {
            next: 1,
            peer_last: 0,
        }
    }

    /// Takes our next short nonce.
    ///
    /// # Panics
    ///
    /// After 2^64 - 1 commands on one connection, rather than ever reusing a nonce.
    fn take(&mut self) -> u64 {
        let n = self.next;
        self.next = n
            .checked_add(1)
            .expect("CURVE short nonces exhausted: a nonce is never reused");
        n
    }

    /// Accepts the peer's MESSAGE nonce only if it is exactly the one after the last: a
    /// greater one means frames were removed from the stream, and accepting it would let
    /// an attacker on the path splice the parts of two messages into one. (libzmq numbers
    /// every command it boxes consecutively, so this costs no interoperability.)
    fn check_next(&self, command: &'static str, nonce: u64) -> Result<(), Error> {
        self.check(command, nonce)?;
        let expected = self.peer_last.saturating_add(1);
        if nonce == expected {
            Ok(())
        } else {
            Err(Error::CurveNonceGap {
                command,
                nonce,
                expected,
            })
        }
    }

    /// Accepts the peer's short nonce if it is greater than the last one.
    fn check(&self, command: &'static str, nonce: u64) -> Result<(), Error> {
        if nonce > self.peer_last {
            Ok(())
        } else {
            Err(Error::CurveNonceReplay {
                command,
                nonce,
                last: self.peer_last,
            })
        }
    }
}

fn read_u64(data: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&data[..8]);
    u64::from_be_bytes(b)
}

/// How one side's handshake moves on: a [`Step`], except that completion also hands over
/// the box for the traffic that follows.
enum Progress {
    /// Waiting for the peer's next command.
    Continue,
    /// Waiting for the authenticator.
    Authenticate(AuthRequest),
    /// Handshake complete: the peer's metadata, and the MESSAGE boxes from now on.
    Done { peer: Metadata, traffic: Traffic },
}

/// One side of the CURVE handshake: [`CurveClient`] or [`CurveServer`].
trait Handshake: Send {
    /// Queues the first command, if this side speaks first.
    fn start(&mut self, ours: Ours<'_>) -> Result<Progress>;

    /// Handles one handshake command.
    fn handle_command(&mut self, name: &Bytes, data: Bytes, ours: Ours<'_>) -> Result<Progress>;

    /// Handles the authenticator's answer (servers only).
    fn handle_auth_reply(&mut self, reply: &AuthReply, ours: Ours<'_>) -> Result<Progress> {
        let _ = (reply, ours);
        Err(Error::NoAuthPending)
    }
}

/// The CURVE mechanism: one side's handshake, then the MESSAGE framing both sides share
/// (libzmq's `curve_mechanism_base`). Generic, so each side's frames take a direct path.
pub(crate) struct Curve<H> {
    handshake: H,
    /// Set when the handshake completes: from then on every frame travels boxed.
    traffic: Option<Traffic>,
}

impl<H> Curve<H> {
    fn new(handshake: H) -> Self {
        Curve {
            handshake,
            traffic: None,
        }
    }

    /// The connection's step for the handshake's progress; keeps the traffic box.
    fn advance(&mut self, progress: Result<Progress>) -> Result<Step> {
        Ok(match progress? {
            Progress::Continue => Step::Continue,
            Progress::Authenticate(request) => Step::Authenticate(request),
            Progress::Done { peer, traffic } => {
                self.traffic = Some(traffic);
                Step::Done(peer)
            }
        })
    }
}

impl<H: Handshake> Mechanism for Curve<H> {
    fn start(&mut self, ours: Ours<'_>) -> Result<Step> {
        let progress = self.handshake.start(ours);
        self.advance(progress)
    }

    fn handle_command(&mut self, name: &Bytes, data: Bytes, ours: Ours<'_>) -> Result<Step> {
        let progress = self.handshake.handle_command(name, data, ours);
        self.advance(progress)
    }

    fn handle_auth_reply(&mut self, reply: &AuthReply, ours: Ours<'_>) -> Result<Step> {
        let progress = self.handshake.handle_auth_reply(reply, ours);
        self.advance(progress)
    }

    fn wraps_frames(&self) -> bool {
        self.traffic.is_some()
    }

    fn encode_frame(&mut self, out: &mut BytesMut, more: bool, command: bool, body: &[u8]) {
        if let Some(traffic) = &mut self.traffic {
            traffic.encode(out, more, command, body);
        } else {
            // Never in plaintext: the connection only wraps frames after the handshake.
            debug_assert!(false, "CURVE frame encoded before the handshake completed");
        }
    }

    fn decode_frame(&mut self, frame: Frame) -> Result<Frame, Error> {
        match &mut self.traffic {
            Some(traffic) => traffic.decode(frame),
            None => Err(Error::UnexpectedMessage),
        }
    }
}

/// The encrypted traffic after the handshake: MESSAGE boxes both ways.
struct Traffic {
    /// Precomputed `crypto_box` between our transient secret and the peer's transient public key.
    cipher: nacl::BoxKey,
    send_prefix: &'static [u8; 16],
    recv_prefix: &'static [u8; 16],
    nonces: ShortNonces,
}

impl Traffic {
    /// Appends one frame as a MESSAGE command: `07 MESSAGE`, short nonce, Box[flags + body].
    ///
    /// The outer frame carries no flags (as libzmq sends it): MORE and COMMAND travel in
    /// the box.
    fn encode(&mut self, out: &mut BytesMut, more: bool, command: bool, body: &[u8]) {
        let nonce = self.nonces.take();
        let len = MESSAGE_NAME.len() + 8 + BOX_OVERHEAD + 1 + body.len();
        frame::encode_header(out, Framing::V3, false, false, len);
        out.reserve(len);
        out.put_slice(MESSAGE_NAME);
        out.put_u64(nonce);
        let flags = (u8::from(more) * PAYLOAD_MORE) | (u8::from(command) * PAYLOAD_COMMAND);
        seal(
            &self.cipher,
            &short_nonce(self.send_prefix, nonce),
            out,
            |out| {
                out.put_u8(flags);
                out.put_slice(body);
            },
        );
    }

    /// Opens one MESSAGE command into the frame it carries.
    fn decode(&mut self, outer: Frame) -> Result<Frame, Error> {
        let body = outer.body;
        if body.len() < MESSAGE_NAME.len() || &body[..MESSAGE_NAME.len()] != MESSAGE_NAME {
            return Err(match command::split(&body) {
                Ok((name, _)) if outer.command => Error::UnexpectedCommand(name),
                _ => malformed("MESSAGE", "expected a MESSAGE command after the handshake"),
            });
        }
        if body.len() < MIN_MESSAGE_SIZE {
            return Err(malformed("MESSAGE", "shorter than 33 bytes"));
        }
        let nonce = read_u64(&body[8..16]);
        self.nonces.check_next("MESSAGE", nonce)?;
        let mut plain = open(
            &self.cipher,
            &short_nonce(self.recv_prefix, nonce),
            &body[16..],
        )
        .ok_or(Error::CurveBoxOpenFailed { command: "MESSAGE" })?;
        self.nonces.peer_last = nonce;
        let flags = plain[0];
        if flags & !(PAYLOAD_MORE | PAYLOAD_COMMAND) != 0 {
            return Err(malformed("MESSAGE", "reserved payload flag bits set"));
        }
        let more = flags & PAYLOAD_MORE != 0;
        let command = flags & PAYLOAD_COMMAND != 0;
        if more && command {
            return Err(Error::CommandWithMore);
        }
        let _ = plain.split_to(1);
        Ok(Frame {
            more,
            command,
            body: Bytes::from(plain),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Traffic, Traffic) {
        let (cs, cp) = transient_keypair().unwrap();
        let (ss, sp) = transient_keypair().unwrap();
        let client = Traffic {
            cipher: nacl::BoxKey::for_box(&sp, &cs),
            send_prefix: MESSAGE_FROM_CLIENT,
            recv_prefix: MESSAGE_FROM_SERVER,
            nonces: ShortNonces {
                next: 3,
                peer_last: 1,
            },
        };
        let server = Traffic {
            cipher: nacl::BoxKey::for_box(&cp, &ss),
            send_prefix: MESSAGE_FROM_SERVER,
            recv_prefix: MESSAGE_FROM_CLIENT,
            nonces: ShortNonces {
                next: 2,
                peer_last: 2,
            },
        };
        (client, server)
    }

    fn one_frame(buf: &mut BytesMut) -> Frame {
        frame::decode(buf, Framing::V3, None).unwrap().unwrap()
    }

    #[test]
    fn message_layout_and_round_trip() {
        let (mut c, mut s) = pair();
        let mut out = BytesMut::new();
        c.encode(&mut out, true, false, b"hello");
        // flags 0, size 8 + 8 + 16 + 1 + 5.
        assert_eq!(&out[..2], &[0x00, 38]);
        assert_eq!(&out[2..10], MESSAGE_NAME);
        assert_eq!(&out[10..18], &3u64.to_be_bytes());
        let f = s.decode(one_frame(&mut out)).unwrap();
        assert!(f.more && !f.command);
        assert_eq!(&f.body[..], b"hello");

        s.encode(&mut out, false, true, b"\x04PING\x00\x00");
        assert_eq!(&out[10..18], &2u64.to_be_bytes());
        let f = c.decode(one_frame(&mut out)).unwrap();
        assert!(!f.more && f.command);
        assert_eq!(&f.body[..], b"\x04PING\x00\x00");
    }

    #[test]
    fn replay_reorder_and_tamper_are_rejected() {
        let (mut c, mut s) = pair();
        let mut first = BytesMut::new();
        c.encode(&mut first, false, false, b"one");
        let mut second = BytesMut::new();
        c.encode(&mut second, false, false, b"two");
        // Reordered: the later nonce first is a gap (a frame is missing).
        let f1 = one_frame(&mut first.clone());
        let f2 = one_frame(&mut second.clone());
        assert_eq!(
            s.decode(f2.clone()),
            Err(Error::CurveNonceGap {
                command: "MESSAGE",
                nonce: 4,
                expected: 3
            })
        );
        // In order they open; replayed, the earlier one is refused.
        s.decode(f1.clone()).unwrap();
        s.decode(f2).unwrap();
        assert_eq!(
            s.decode(f1),
            Err(Error::CurveNonceReplay {
                command: "MESSAGE",
                nonce: 3,
                last: 4
            })
        );
        // Altered: every byte after the nonce is covered by the tag.
        let mut third = BytesMut::new();
        c.encode(&mut third, false, false, b"three");
        for at in 18..third.len() {
            let mut bad = third.clone();
            bad[at] ^= 0x01;
            assert_eq!(
                s.decode(one_frame(&mut bad)),
                Err(Error::CurveBoxOpenFailed { command: "MESSAGE" }),
                "byte {at}"
            );
        }
        // A failed box does not advance the peer's nonce: the genuine one still opens.
        assert_eq!(&s.decode(one_frame(&mut third)).unwrap().body[..], b"three");
    }

    #[test]
    fn short_and_foreign_frames() {
        let (_, mut s) = pair();
        let short = Frame {
            more: false,
            command: false,
            body: Bytes::from_static(b"\x07MESSAGE\x00\x00\x00\x00\x00\x00\x00\x09tiny"),
        };
        assert!(matches!(
            s.decode(short),
            Err(Error::MalformedMechanismCommand {
                command: "MESSAGE",
                ..
            })
        ));
        let ping = Frame {
            more: false,
            command: true,
            body: Bytes::from_static(b"\x04PING\x00\x00"),
        };
        assert_eq!(
            s.decode(ping),
            Err(Error::UnexpectedCommand(Bytes::from_static(b"PING")))
        );
    }
}
