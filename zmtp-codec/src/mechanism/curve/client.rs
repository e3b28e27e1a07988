//! The CURVE client: sends HELLO, opens WELCOME, sends INITIATE with its vouch, opens READY.

use bytes::{BufMut, Bytes, BytesMut};
use crypto_box::{PublicKey, SalsaBox, SecretKey};

use super::{
    command_frame, long_nonce, malformed, open, random, read_u64, seal, short_nonce,
    transient_keypair, Curve, CurveSecretKey, Handshake, Progress, ShortNonces, Traffic,
    BOX_OVERHEAD, COOKIE_SIZE, HELLO_PREFIX, HELLO_SIZE, INITIATE_PREFIX, MESSAGE_FROM_CLIENT,
    MESSAGE_FROM_SERVER, MIN_INITIATE_SIZE, MIN_READY_SIZE, READY_PREFIX, VOUCH_PREFIX,
    WELCOME_PREFIX, WELCOME_SIZE,
};
use crate::command::put_name;
use crate::mechanism::{unexpected, Ours, Result};
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
    /// Failed, or done (the traffic box went to [`Curve`]).
    Dead,
}

pub(crate) struct CurveClient {
    public: [u8; 32],
    secret: CurveSecretKey,
    server: PublicKey,
    state: State,
}

impl CurveClient {
    /// The client mechanism: our key pair, and the server's public key.
    pub(crate) fn mechanism(
        public: [u8; 32],
        secret: CurveSecretKey,
        server: [u8; 32],
    ) -> Curve<CurveClient> {
        Curve::new(CurveClient {
            public,
            secret,
            server: PublicKey::from(server),
            state: State::Idle,
        })
    }

    fn handle_welcome(
        &mut self,
        transient: SecretKey,
        mut nonces: ShortNonces,
        data: &Bytes,
        ours: Ours<'_>,
    ) -> Result<Progress> {
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
        let traffic_box = super::nacl::BoxKey::for_box(&server_transient, &transient);
        command_frame(
            ours.out,
            MIN_INITIATE_SIZE + ours.metadata.encoded_len(),
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
                        ours.metadata.encode(b);
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
        Ok(Progress::Continue)
    }

    fn handle_ready(&mut self, mut traffic: Traffic, data: &Bytes) -> Result<Progress> {
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
        Ok(Progress::Done { peer, traffic })
    }
}

impl Handshake for CurveClient {
    fn start(&mut self, ours: Ours<'_>) -> Result<Progress> {
        let (transient, transient_public) = transient_keypair()?;
        let mut nonces = ShortNonces::new();
        let nonce = nonces.take();
        let hello_box = SalsaBox::new(&self.server, &transient);
        command_frame(ours.out, HELLO_SIZE, |body| {
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
        Ok(Progress::Continue)
    }

    fn handle_command(&mut self, name: &Bytes, data: Bytes, ours: Ours<'_>) -> Result<Progress> {
        match (std::mem::replace(&mut self.state, State::Dead), &name[..]) {
            (State::WaitWelcome { transient, nonces }, b"WELCOME") => {
                self.handle_welcome(transient, nonces, &data, ours)
            }
            (State::WaitReady { traffic }, b"READY") => self.handle_ready(traffic, &data),
            _ => Err(unexpected(name)),
        }
    }
}
