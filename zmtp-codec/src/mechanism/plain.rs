//! The PLAIN mechanism (RFC 24): HELLO → WELCOME → INITIATE → READY, or ERROR.

use bytes::{BufMut, Bytes, BytesMut};

use super::{check_reply, unexpected, AuthReply, AuthRequest, Mechanism, Ours, Result, Step};
use crate::command::put_name;
use crate::frame::{self, Framing};
use crate::{Error, Metadata};

/// Encodes a PLAIN HELLO command frame (`05 HELLO`, username, password).
pub fn encode_hello(out: &mut BytesMut, username: &[u8], password: &[u8]) {
    let mut body = BytesMut::with_capacity(8 + username.len() + password.len());
    put_name(&mut body, b"HELLO");
    body.put_u8(username.len() as u8);
    body.put_slice(username);
    body.put_u8(password.len() as u8);
    body.put_slice(password);
    frame::encode(out, Framing::V3, false, true, &body);
}

/// Parses the data of a PLAIN HELLO (after the name) into username and password.
pub fn decode_hello(data: &Bytes) -> Result<(Bytes, Bytes), Error> {
    let bad = |reason| Error::MalformedMechanismCommand {
        command: "HELLO",
        reason,
    };
    let user_len = usize::from(*data.first().ok_or(bad("missing username length"))?);
    let pass_at = 1 + user_len;
    let pass_len = usize::from(*data.get(pass_at).ok_or(bad("username runs past the end"))?);
    if data.len() != pass_at + 1 + pass_len {
        return Err(bad("password length does not match the frame"));
    }
    Ok((data.slice(1..pass_at), data.slice(pass_at + 1..)))
}

fn encode_named(out: &mut BytesMut, name: &[u8], metadata: Option<&Metadata>) {
    let mut body = BytesMut::new();
    put_name(&mut body, name);
    if let Some(m) = metadata {
        m.encode(&mut body);
    }
    frame::encode(out, Framing::V3, false, true, &body);
}

#[derive(Debug, PartialEq, Eq)]
enum ClientState {
    WaitWelcome,
    WaitReady,
}

pub(crate) struct PlainClient {
    username: Bytes,
    password: Bytes,
    state: ClientState,
}

impl PlainClient {
    pub(crate) fn new(username: Bytes, password: Bytes) -> Self {
        PlainClient {
            username,
            password,
            state: ClientState::WaitWelcome,
        }
    }
}

impl Mechanism for PlainClient {
    fn start(&mut self, ours: Ours<'_>) -> Result<Step> {
        encode_hello(ours.out, &self.username, &self.password);
        Ok(Step::Continue)
    }

    fn handle_command(&mut self, name: &Bytes, data: Bytes, ours: Ours<'_>) -> Result<Step> {
        match (&self.state, &name[..]) {
            (ClientState::WaitWelcome, b"WELCOME") => {
                if !data.is_empty() {
                    return Err(Error::MalformedMechanismCommand {
                        command: "WELCOME",
                        reason: "unexpected data",
                    });
                }
                encode_named(ours.out, b"INITIATE", Some(ours.metadata));
                self.state = ClientState::WaitReady;
                Ok(Step::Continue)
            }
            (ClientState::WaitReady, b"READY") => Ok(Step::Done(Metadata::decode(data)?)),
            _ => Err(unexpected(name)),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum ServerState {
    WaitHello,
    WaitAuth,
    WaitInitiate,
    Done,
}

pub(crate) struct PlainServer {
    state: ServerState,
}

impl PlainServer {
    pub(crate) fn new() -> Self {
        PlainServer {
            state: ServerState::WaitHello,
        }
    }
}

impl Mechanism for PlainServer {
    fn handle_command(&mut self, name: &Bytes, data: Bytes, ours: Ours<'_>) -> Result<Step> {
        match (&self.state, &name[..]) {
            (ServerState::WaitHello, b"HELLO") => {
                let (username, password) = decode_hello(&data)?;
                self.state = ServerState::WaitAuth;
                Ok(Step::Authenticate(AuthRequest {
                    mechanism: "PLAIN",
                    credentials: vec![username, password],
                }))
            }
            (ServerState::WaitInitiate, b"INITIATE") => {
                let peer = Metadata::decode(data)?;
                encode_named(ours.out, b"READY", Some(ours.metadata));
                self.state = ServerState::Done;
                Ok(Step::Done(peer))
            }
            _ => Err(unexpected(name)),
        }
    }

    fn handle_auth_reply(&mut self, reply: &AuthReply, ours: Ours<'_>) -> Result<Step> {
        if self.state != ServerState::WaitAuth {
            return Err(Error::NoAuthPending);
        }
        check_reply(reply, ours.out)?;
        encode_named(ours.out, b"WELCOME", None);
        self.state = ServerState::WaitInitiate;
        Ok(Step::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_golden_and_round_trip() {
        let mut out = BytesMut::new();
        encode_hello(&mut out, b"admin", b"secret");
        assert_eq!(&out[..], b"\x04\x13\x05HELLO\x05admin\x06secret");
        let data = Bytes::copy_from_slice(&out[8..]);
        let (u, p) = decode_hello(&data).unwrap();
        assert_eq!((&u[..], &p[..]), (&b"admin"[..], &b"secret"[..]));
    }

    #[test]
    fn malformed_hello() {
        for bad in [&b""[..], b"\x05ab", b"\x01a\x03xy", b"\x01a\x01xyz"] {
            assert!(matches!(
                decode_hello(&Bytes::copy_from_slice(bad)),
                Err(Error::MalformedMechanismCommand {
                    command: "HELLO",
                    ..
                })
            ));
        }
    }
}
