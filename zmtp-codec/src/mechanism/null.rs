//! The NULL mechanism: both peers send READY with their metadata.
//!
//! With an authenticator (libzmq: `ZMQ_ZAP_DOMAIN` set on a NULL socket) the server asks
//! it first and sends READY only after a 200.

use bytes::Bytes;

use super::{check_reply, unexpected, AuthReply, AuthRequest, Mechanism, Ours, Result, Step};
use crate::{Command, Error, Metadata};

pub(crate) struct Null {
    authenticate: bool,
    sent_ready: bool,
    peer: Option<Metadata>,
}

impl Null {
    pub(crate) fn new(authenticate: bool) -> Self {
        Null {
            authenticate,
            sent_ready: false,
            peer: None,
        }
    }

    fn send_ready(&mut self, ours: Ours<'_>) -> Step {
        Command::Ready(ours.metadata.clone()).encode(ours.out);
        self.sent_ready = true;
        self.progress()
    }

    fn progress(&mut self) -> Step {
        match (&self.peer, self.sent_ready) {
            (Some(_), true) => Step::Done(self.peer.take().unwrap_or_default()),
            _ => Step::Continue,
        }
    }
}

impl Mechanism for Null {
    fn start(&mut self, ours: Ours<'_>) -> Result<Step> {
        if self.authenticate {
            return Ok(Step::Authenticate(AuthRequest {
                mechanism: "NULL",
                credentials: Vec::new(),
            }));
        }
        Ok(self.send_ready(ours))
    }

    fn handle_command(&mut self, name: &Bytes, data: Bytes, _ours: Ours<'_>) -> Result<Step> {
        if &name[..] != b"READY" || self.peer.is_some() {
            return Err(unexpected(name));
        }
        self.peer = Some(Metadata::decode(data)?);
        Ok(self.progress())
    }

    fn handle_auth_reply(&mut self, reply: &AuthReply, ours: Ours<'_>) -> Result<Step> {
        if !self.authenticate || self.sent_ready {
            return Err(Error::NoAuthPending);
        }
        check_reply(reply, ours.out)?;
        Ok(self.send_ready(ours))
    }
}
