//! The CURVE client: sends HELLO, opens WELCOME, sends INITIATE with its vouch, opens READY.

use bytes::{BufMut, Bytes, BytesMut};
use crypto_box::{PublicKey, SalsaBox, SecretKey};

use super::{
    command_frame, long_nonce, malformed, open, random, read_u64, seal, short_nonce,
    transient_keypair, CurveSecretKey, ShortNonces, Traffic, BOX_OVERHEAD, COOKIE_SIZE,
    HELLO_PREFIX, HELLO_SIZE, INITIATE_PREFIX, MESSAGE_FROM_CLIENT, MESSAGE_FROM_SERVER,
    MIN_INITIATE_SIZE, MIN_READY_SIZE, READY_PREFIX, VOUCH_PREFIX, WELCOME_PREFIX, WELCOME_SIZE,
};
use crate::command::put_name;
use crate::frame::Frame;
use crate::mechanism::{unexpected, Mechanism, Step};
use crate::{Error, Metadata};

enum State {
    /// Before `start`.
    Idle,
    /// HELLO sent; the transient secret c′ waits for WELCOME.
    WaitWelcome {
        transient: SecretKey,
        nonces: ShortNonces,
    },
    /// INITIATE sent; READY will open with the traffic box.
    WaitReady { traffic: Traffic },
    /// Handshake done: frames travel in MESSAGE boxes.
    Ready { traffic: Traffic },
    /// Failed or consumed.
    Dead,
}

pub(crate) struct CurveClient {
    public: [u8; 32],
    secret: CurveSecretKey,
    server: PublicKey,
    state: State,
}

impl CurveClient {
    pub(crate) fn new(public: [u8; 32], secret: CurveSecretKey, server: [u8; 32]) -> Self {
        CurveClient {
            public,
            secret,
            server: PublicKey::from(server),
            state: State::Idle,
        }
    }

    fn handle_welcome(
        &mut self,
        transient: SecretKey,
        mut nonces: ShortNonces,
        data: &Bytes,
        ours: &Metadata,
        out: &mut BytesMut,
    ) -> Result<Step, Error> {
        // data = long nonce (16) + Box[S′ + cookie](S → C′) (144).
        if data.len() + 8 != WELCOME_SIZE {
            return Err(malformed("WELCOME", "not 168 bytes"));
        }
        let hello_box = SalsaBox::new(&self.server, &transient);
        let plain = open(
            &hello_box,
            &long_nonce(WELCOME_PREFIX, &data[..16]),
            &data[16..],
        )
        .ok_or(Error::CurveBoxOpenFailed { command: "WELCOME" })?;
        let server_transient = PublicKey::from_slice(&plain[..32])
            .map_err(|_| malformed("WELCOME", "bad server transient key"))?;
        let cookie = &plain[32..32 + COOKIE_SIZE];

        // vouch = long nonce (16) + Box[C′ + S](C → S′) (80).
        let mut vouch_nonce = [0u8; 16];
        random(&mut vouch_nonce)?;
        let vouch_box = SalsaBox::new(&server_transient, &self.secret.to_crypto());
        let mut vouch = BytesMut::with_capacity(16 + 64 + BOX_OVERHEAD);
        vouch.put_slice(&vouch_nonce);
        seal(
            &vouch_box,
            &long_nonce(VOUCH_PREFIX, &vouch_nonce),
            &mut vouch,
            |b| {
                b.put_slice(transient.public_key().as_bytes());
                b.put_slice(self.server.as_bytes());
            },
        );
        let nonce = nonces.take();
        let traffic_box = SalsaBox::new(&server_transient, &transient);
        command_frame(
            out,
            MIN_INITIATE_SIZE + ours.encoded_len(),
            |body: &mut BytesMut| {
                put_name(body, b"INITIATE");
                body.put_slice(cookie);
                body.put_u64(nonce);
                seal(
                    &traffic_box,
                    &short_nonce(INITIATE_PREFIX, nonce),
                    body,
                    |b| {
                        b.put_slice(&self.public);
                        b.put_slice(&vouch);
                        ours.encode(b);
                    },
                );
            },
        );
        self.state = State::WaitReady {
            traffic: Traffic {
                cipher: traffic_box,
                send_prefix: MESSAGE_FROM_CLIENT,
                recv_prefix: MESSAGE_FROM_SERVER,
                nonces,
            },
        };
        Ok(Step::Continue)
    }

    fn handle_ready(&mut self, mut traffic: Traffic, data: &Bytes) -> Result<Step, Error> {
        // data = short nonce (8) + Box[metadata](S′ → C′) (16+).
        if data.len() + 6 < MIN_READY_SIZE {
            return Err(malformed("READY", "shorter than 30 bytes"));
        }
        let nonce = read_u64(&data[..8]);
        traffic.nonces.check("READY", nonce)?;
        let plain = open(
            &traffic.cipher,
            &short_nonce(READY_PREFIX, nonce),
            &data[8..],
        )
        .ok_or(Error::CurveBoxOpenFailed { command: "READY" })?;
        traffic.nonces.peer_last = nonce;
        let peer = Metadata::decode(plain.freeze())?;
        self.state = State::Ready { traffic };
        Ok(Step::Done(peer))
    }
}

impl Mechanism for CurveClient {
    fn start(&mut self, _ours: &Metadata, out: &mut BytesMut) -> Result<Step, Error> {
        let (transient, transient_public) = transient_keypair()?;
        let mut nonces = ShortNonces::new();
        let nonce = nonces.take();
        let hello_box = SalsaBox::new(&self.server, &transient);
        command_frame(out, HELLO_SIZE, |body| {
            put_name(body, b"HELLO");
            body.put_slice(&[1, 0]);
            body.put_bytes(0, 72);
            body.put_slice(transient_public.as_bytes());
            body.put_u64(nonce);
            seal(&hello_box, &short_nonce(HELLO_PREFIX, nonce), body, |b| {
                b.put_bytes(0, 64)
            });
        });
        self.state = State::WaitWelcome { transient, nonces };
        Ok(Step::Continue)
    }

    fn handle_command(
        &mut self,
        name: &Bytes,
        data: Bytes,
        ours: &Metadata,
        out: &mut BytesMut,
    ) -> Result<Step, Error> {
        match (std::mem::replace(&mut self.state, State::Dead), &name[..]) {
            (State::WaitWelcome { transient, nonces }, b"WELCOME") => {
                self.handle_welcome(transient, nonces, &data, ours, out)
            }
            (State::WaitReady { traffic }, b"READY") => self.handle_ready(traffic, &data),
            _ => Err(unexpected(name)),
        }
    }

    fn wraps_frames(&self) -> bool {
        matches!(self.state, State::Ready { .. })
    }

    fn encode_frame(&mut self, out: &mut BytesMut, more: bool, command: bool, body: &[u8]) {
        if let State::Ready { traffic } = &mut self.state {
            traffic.encode(out, more, command, body);
        } else {
            // Never in plaintext: the connection only wraps frames after the handshake.
            debug_assert!(false, "CURVE frame encoded before the handshake completed");
        }
    }

    fn decode_frame(&mut self, frame: Frame) -> Result<Frame, Error> {
        match &mut self.state {
            State::Ready { traffic } => traffic.decode(frame),
            _ => Err(Error::UnexpectedMessage),
        }
    }
}
