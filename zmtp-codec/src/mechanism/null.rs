//! The NULL mechanism: both peers send READY with their metadata.
//!
//! With an authenticator (libzmq: `ZMQ_ZAP_DOMAIN` set on a NULL socket) the server asks
//! it first and sends READY only after a 200.

use bytes::{Bytes, BytesMut};

use super::{refuse, unexpected, AuthReply, AuthRequest, Mechanism, Step};
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

    fn progress(&mut self) -> Step {
        match (&self.peer, self.sent_ready) {
            (Some(_), true) => Step::Done(self.peer.take().unwrap_or_default()),
            _ => Step::Continue,
        }
    }
}

impl Mechanism for Null {
    fn start(&mut self, ours: &Metadata, out: &mut BytesMut) -> Result<Step, Error> {
        if self.authenticate {
            return Ok(Step::Authenticate(AuthRequest {
                mechanism: "NULL",
                credentials: Vec::new(),
            }));
        }
        Command::Ready(ours.clone()).encode(out);
        self.sent_ready = true;
        Ok(Step::Continue)
    }

    fn handle_command(
        &mut self,
        name: &Bytes,
        data: Bytes,
        _ours: &Metadata,
        _out: &mut BytesMut,
    ) -> Result<Step, Error> {
        if &name[..] != b"READY" || self.peer.is_some() {
            return Err(unexpected(name));
        }
        self.peer = Some(Metadata::decode(data)?);
        Ok(self.progress())
    }

    fn handle_auth_reply(
        &mut self,
        reply: &AuthReply,
        ours: &Metadata,
        out: &mut BytesMut,
    ) -> Result<Step, Error> {
        if !self.authenticate || self.sent_ready {
            return Err(Error::NoAuthPending);
        }
        if reply.status_code != 200 {
            return Err(refuse(reply, out));
        }
        Command::Ready(ours.clone()).encode(out);
        self.sent_ready = true;
        Ok(self.progress())
    }
}
