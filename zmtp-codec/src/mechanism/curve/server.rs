//! The CURVE server: opens HELLO, answers WELCOME with a cookie, checks INITIATE's cookie
//! and vouch, asks the authenticator about the client's key, then sends READY.

use bytes::{BufMut, Bytes, BytesMut};
use crypto_box::aead::KeyInit;
use crypto_box::{PublicKey, SalsaBox, SecretKey};
use crypto_secretbox::XSalsa20Poly1305;
use zeroize::{Zeroize, Zeroizing};

use super::{
    command_frame, long_nonce, malformed, open, random, read_u64, seal, short_nonce,
    transient_keypair, Curve, CurveSecretKey, Handshake, Progress, ShortNonces, Traffic,
    COOKIE_PREFIX, COOKIE_SIZE, HELLO_PREFIX, HELLO_SIZE, INITIATE_PREFIX, MESSAGE_FROM_CLIENT,
    MESSAGE_FROM_SERVER, MIN_INITIATE_SIZE, MIN_READY_SIZE, READY_PREFIX, VOUCH_PREFIX, VOUCH_SIZE,
    WELCOME_PREFIX, WELCOME_SIZE,
};
use crate::command::put_name;
use crate::mechanism::{check_reply, unexpected, AuthReply, AuthRequest, Ours, Result};
use crate::{Error, Metadata};

enum State {
    WaitHello,
    /// WELCOME sent. Only the cookie key and C′ are kept: s′ comes back in the cookie.
    WaitInitiate {
        client_transient: [u8; 32],
        cookie_key: Zeroizing<[u8; 32]>,
        nonces: ShortNonces,
    },
    /// INITIATE accepted; waiting for the authenticator.
    WaitAuth {
        traffic: Traffic,
        peer: Metadata,
    },
    /// Failed, or done (the traffic box went to [`Curve`]).
    Dead,
}

pub(crate) struct CurveServer {
    public: [u8; 32],
    secret: CurveSecretKey,
    state: State,
}

impl CurveServer {
    /// The server mechanism with our key pair.
    pub(crate) fn mechanism(public: [u8; 32], secret: CurveSecretKey) -> Curve<CurveServer> {
        Curve::new(CurveServer {
            public,
            secret,
            state: State::WaitHello,
        })
    }

    fn handle_hello(&mut self, data: &Bytes, out: &mut BytesMut) -> Result<Progress> {
        // data = version (2), padding (72), C′ (32), short nonce (8), Box[64 zeros](C′ → S) (80).
        if data.len() + 6 != HELLO_SIZE {
            return Err(malformed("HELLO", "not 200 bytes"));
        }
        if data[..2] != [1, 0] {
            return Err(Error::CurveUnsupportedVersion {
                major: data[0],
                minor: data[1],
            });
        }
        if data[2..74].iter().any(|&b| b != 0) {
            return Err(malformed("HELLO", "non-zero anti-amplification padding"));
        }
        let mut client_transient = [0u8; 32];
        client_transient.copy_from_slice(&data[74..106]);
        let nonce = read_u64(&data[106..114]);
        let mut nonces = ShortNonces::new();
        nonces.check("HELLO", nonce)?;
        let secret = self.secret.to_crypto();
        let hello_box = SalsaBox::new(&PublicKey::from(client_transient), &secret);
        let signature = open(&hello_box, &short_nonce(HELLO_PREFIX, nonce), &data[114..])
            .ok_or(Error::CurveBoxOpenFailed { command: "HELLO" })?;
        if signature.iter().any(|&b| b != 0) {
            return Err(malformed("HELLO", "signature box does not hold 64 zeros"));
        }
        nonces.peer_last = nonce;

        // cookie = long nonce (16) + Box[C′ + s′](K) (80), K fresh for this handshake.
        let (transient, transient_public) = transient_keypair()?;
        let mut cookie_key = Zeroizing::new([0u8; 32]);
        random(&mut cookie_key[..])?;
        let mut cookie_nonce = [0u8; 16];
        random(&mut cookie_nonce)?;
        let mut cookie = BytesMut::with_capacity(COOKIE_SIZE);
        cookie.put_slice(&cookie_nonce);
        let transient_secret = Zeroizing::new(transient.to_bytes());
        seal(
            &XSalsa20Poly1305::new(&(*cookie_key).into()),
            &long_nonce(COOKIE_PREFIX, &cookie_nonce),
            &mut cookie,
            |b| {
                b.put_slice(&client_transient);
                b.put_slice(&transient_secret[..]);
            },
        );

        // WELCOME = long nonce (16) + Box[S′ + cookie](S → C′) (144).
        let mut welcome_nonce = [0u8; 16];
        random(&mut welcome_nonce)?;
        command_frame(out, WELCOME_SIZE, |body| {
            put_name(body, b"WELCOME");
            body.put_slice(&welcome_nonce);
            seal(
                &hello_box,
                &long_nonce(WELCOME_PREFIX, &welcome_nonce),
                body,
                |b| {
                    b.put_slice(transient_public.as_bytes());
                    b.put_slice(&cookie);
                },
            );
        });
        self.state = State::WaitInitiate {
            client_transient,
            cookie_key,
            nonces,
        };
        Ok(Progress::Continue)
    }

    fn handle_initiate(
        &mut self,
        client_transient: [u8; 32],
        cookie_key: &[u8; 32],
        mut nonces: ShortNonces,
        data: &Bytes,
    ) -> Result<Progress> {
        // data = cookie (96), short nonce (8), Box[C + vouch + metadata](C′ → S′) (144+).
        if data.len() + 9 < MIN_INITIATE_SIZE {
            return Err(malformed("INITIATE", "shorter than 257 bytes"));
        }
        let mut cookie = open(
            &XSalsa20Poly1305::new(&(*cookie_key).into()),
            &long_nonce(COOKIE_PREFIX, &data[..16]),
            &data[16..COOKIE_SIZE],
        )
        .ok_or(Error::CurveBadCookie)?;
        if cookie[..32] != client_transient {
            return Err(Error::CurveBadCookie);
        }
        let mut transient_secret = Zeroizing::new([0u8; 32]);
        transient_secret.copy_from_slice(&cookie[32..64]);
        cookie.as_mut().zeroize();
        let transient = SecretKey::from_bytes(*transient_secret);
        let client_transient_key = PublicKey::from(client_transient);

        let nonce = read_u64(&data[COOKIE_SIZE..COOKIE_SIZE + 8]);
        nonces.check("INITIATE", nonce)?;
        let traffic_box = super::nacl::BoxKey::for_box(&client_transient_key, &transient);
        let plain = Zeroizing::new(
            open(
                &traffic_box,
                &short_nonce(INITIATE_PREFIX, nonce),
                &data[COOKIE_SIZE + 8..],
            )
            .ok_or(Error::CurveBoxOpenFailed {
                command: "INITIATE",
            })?
            .to_vec(),
        );
        nonces.peer_last = nonce;
        let mut client_key = [0u8; 32];
        client_key.copy_from_slice(&plain[..32]);

        // vouch = long nonce (16) + Box[C′ + S](C → S′) (80).
        let vouch = &plain[32..32 + VOUCH_SIZE];
        let vouch_box = SalsaBox::new(&PublicKey::from(client_key), &transient);
        let vouched = open(
            &vouch_box,
            &long_nonce(VOUCH_PREFIX, &vouch[..16]),
            &vouch[16..],
        )
        .ok_or(Error::CurveBadVouch)?;
        if vouched[..32] != client_transient || vouched[32..64] != self.public {
            return Err(Error::CurveBadVouch);
        }
        let peer = Metadata::decode(Bytes::copy_from_slice(&plain[32 + VOUCH_SIZE..]))?;
        self.state = State::WaitAuth {
            traffic: Traffic {
                cipher: traffic_box,
                send_prefix: MESSAGE_FROM_SERVER,
                recv_prefix: MESSAGE_FROM_CLIENT,
                nonces,
            },
            peer,
        };
        Ok(Progress::Authenticate(AuthRequest {
            mechanism: "CURVE",
            credentials: vec![Bytes::copy_from_slice(&client_key)],
        }))
    }
}

impl Handshake for CurveServer {
    fn start(&mut self, _ours: Ours<'_>) -> Result<Progress> {
        Ok(Progress::Continue)
    }

    fn handle_command(&mut self, name: &Bytes, data: Bytes, ours: Ours<'_>) -> Result<Progress> {
        match (std::mem::replace(&mut self.state, State::Dead), &name[..]) {
            (State::WaitHello, b"HELLO") => self.handle_hello(&data, ours.out),
            (
                State::WaitInitiate {
                    client_transient,
                    cookie_key,
                    nonces,
                },
                b"INITIATE",
            ) => self.handle_initiate(client_transient, &cookie_key, nonces, &data),
            _ => Err(unexpected(name)),
        }
    }

    fn handle_auth_reply(&mut self, reply: &AuthReply, ours: Ours<'_>) -> Result<Progress> {
        if !matches!(self.state, State::WaitAuth { .. }) {
            return Err(Error::NoAuthPending);
        }
        let State::WaitAuth { mut traffic, peer } = std::mem::replace(&mut self.state, State::Dead)
        else {
            return Err(Error::NoAuthPending);
        };
        check_reply(reply, ours.out)?;
        // READY = short nonce (8) + Box[metadata](S′ → C′).
        let nonce = traffic.nonces.take();
        command_frame(
            ours.out,
            MIN_READY_SIZE + ours.metadata.encoded_len(),
            |body| {
                put_name(body, b"READY");
                body.put_u64(nonce);
                seal(
                    &traffic.cipher,
                    &short_nonce(READY_PREFIX, nonce),
                    body,
                    |b| ours.metadata.encode(b),
                );
            },
        );
        Ok(Progress::Done { peer, traffic })
    }
}
