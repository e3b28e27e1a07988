//! A [`Connection`] wrapper that checks the invariants every caller relies on, after every
//! call:
//!
//! - errors are sticky: once a call returned an error that is not the caller's fault, every
//!   later `handle_*`/`send*` returns `Error::Failed`, `poll_event` never says `Ok(None)`
//!   again (queued events, then the error), and `error()` holds the first error;
//! - caller errors (`NotReady`, `EmptyMessage`, …) leave the connection usable;
//! - a failed connection is not active and has no deadline;
//! - events come in a sane order: at most one `AuthRequest`, at most one
//!   `HandshakeSucceeded`, messages and subscriptions only after it, subscriptions only to
//!   publishers, frames within `maxmsgsize`;
//! - a connection that authenticates never completes its handshake without an accepting
//!   `AuthReply`.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use zmtp_codec::{AuthReply, Config, Connection, Error, Event, MechanismConfig, Message};

/// A connection plus what the checks remember about it.
#[derive(Debug)]
pub struct Checked {
    /// The connection under test.
    pub conn: Connection,
    failed: bool,
    poll_failed: bool,
    handshake: bool,
    auth_requests: u32,
    accepted: bool,
    authenticates: bool,
    publisher: bool,
    max_msg_size: Option<u64>,
}

impl Checked {
    /// Builds the connection (the configuration must be valid).
    pub fn new(config: Config, now: Instant) -> Self {
        // PLAIN and CURVE servers always ask; NULL only when told to.
        let authenticates = config.mechanism.as_server()
            || (config.mechanism == MechanismConfig::Null && config.authenticate_null);
        let publisher = config.socket_type.is_publisher();
        let max_msg_size = config.max_msg_size;
        let conn = Connection::new(config, now).expect("valid config");
        Checked {
            conn,
            failed: false,
            poll_failed: false,
            handshake: false,
            auth_requests: 0,
            accepted: false,
            authenticates,
            publisher,
            max_msg_size,
        }
    }

    /// True once a non-caller error was returned.
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// True once `HandshakeSucceeded` was polled.
    pub fn handshake_done(&self) -> bool {
        self.handshake
    }

    /// True when an `AuthRequest` was polled and not answered yet.
    pub fn auth_pending(&self) -> bool {
        self.auth_requests > 0 && !self.accepted && !self.failed
    }

    /// `handle_input`.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), Error> {
        let r = self.conn.handle_input(now, data);
        self.check("handle_input", r)
    }

    /// `read_buf` + append + `handle_read`.
    pub fn handle_read(&mut self, now: Instant, data: &[u8]) -> Result<(), Error> {
        self.conn.read_buf().extend_from_slice(data);
        let r = self.conn.handle_read(now);
        self.check("handle_read", r)
    }

    /// `handle_timeout`.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        let r = self.conn.handle_timeout(now);
        self.check("handle_timeout", r)
    }

    /// `handle_auth_reply`.
    pub fn handle_auth_reply(&mut self, now: Instant, reply: AuthReply) -> Result<(), Error> {
        let accept = reply.status_code == 200;
        let r = self.conn.handle_auth_reply(now, reply);
        if accept && r.is_ok() {
            self.accepted = true;
        }
        self.check("handle_auth_reply", r)
    }

    /// `send`.
    pub fn send(&mut self, msg: &Message) -> Result<(), Error> {
        let r = self.conn.send(msg);
        if self.failed {
            // Not a caller error either: a failed connection refuses first.
            assert!(
                matches!(r, Err(Error::Failed(_))),
                "send after failure: {r:?}"
            );
        } else if !self.conn.is_active() {
            assert_eq!(r, Err(Error::NotReady));
        } else if msg.is_empty() {
            assert_eq!(r, Err(Error::EmptyMessage));
        } else {
            assert_eq!(r, Ok(()), "send on an active connection");
        }
        self.check("send", r)
    }

    /// `send_subscribe` or `send_cancel`.
    pub fn send_subscription(&mut self, subscribe: bool, topic: &[u8]) -> Result<(), Error> {
        let r = if subscribe {
            self.conn.send_subscribe(topic)
        } else {
            self.conn.send_cancel(topic)
        };
        self.check("send_subscription", r)
    }

    /// `poll_transmit` (no invariant beyond the state checks).
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        let t = self.conn.poll_transmit();
        if let Some(b) = &t {
            assert!(!b.is_empty(), "poll_transmit returned an empty chunk");
        }
        self.check_state();
        t
    }

    /// `poll_event`, with the event checks.
    pub fn poll_event(&mut self) -> Result<Option<Event>, Error> {
        let r = self.conn.poll_event();
        match &r {
            Ok(None) => assert!(!self.failed, "poll_event says Ok(None) after a failure"),
            Ok(Some(ev)) => {
                assert!(!self.poll_failed, "an event after poll_event failed");
                self.check_event(ev);
            }
            Err(e) => self.polling_failed("poll_event", e),
        }
        self.check_state();
        r
    }

    /// A poll returned `e`: the sticky error, never the caller's.
    fn polling_failed(&mut self, what: &str, e: &Error) {
        assert!(!e.is_caller_error(), "{what} returned a caller error {e:?}");
        assert_eq!(self.conn.error(), Some(e), "{what} error is not error()");
        self.failed = true;
        self.poll_failed = true;
    }

    /// `poll_messages` into a fresh queue, with the event checks on every message.
    pub fn poll_messages(&mut self, max: usize) -> Result<usize, Error> {
        let mut queue = VecDeque::new();
        let r = self.conn.poll_messages(&mut queue, max);
        assert!(queue.len() <= max, "poll_messages took more than asked");
        for m in queue.drain(..) {
            assert!(!self.poll_failed, "a message after polling failed");
            self.check_event(&Event::Message(m));
        }
        if let Err(e) = &r {
            self.polling_failed("poll_messages", e);
            // Only once no event is queued: poll_event has nothing more either.
            assert!(self.conn.poll_event().is_err(), "an event after the error");
        }
        self.check_state();
        r
    }

    /// Drains as the socket driver does: `poll_messages` (up to `max` at a time) between
    /// calls of `poll_event`, up to `limit` rounds.
    pub fn drain_batches(&mut self, limit: usize, max: usize) {
        for _ in 0..limit {
            if self.poll_messages(max).is_err() {
                return;
            }
            match self.poll_event() {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return,
            }
        }
    }

    /// Polls up to `limit` events (stops at `Ok(None)` or an error).
    pub fn drain_events(&mut self, limit: usize, mut each: impl FnMut(&Event)) {
        for _ in 0..limit {
            match self.poll_event() {
                Ok(Some(ev)) => each(&ev),
                Ok(None) | Err(_) => return,
            }
        }
    }

    fn check(&mut self, what: &str, r: Result<(), Error>) -> Result<(), Error> {
        match &r {
            Ok(()) => assert!(!self.failed, "{what} accepted input after a failure"),
            Err(e) if self.failed => {
                assert!(matches!(e, Error::Failed(_)), "{what} after failure: {e:?}");
            }
            Err(e) if e.is_caller_error() => {
                assert_eq!(
                    self.conn.error(),
                    None,
                    "{what}: caller error {e:?} killed it"
                );
            }
            Err(e) => {
                assert!(
                    !matches!(e, Error::Failed(_)),
                    "{what}: Failed before any failure"
                );
                assert_eq!(
                    self.conn.error(),
                    Some(e),
                    "{what}: error() differs from {e:?}"
                );
                self.failed = true;
            }
        }
        self.check_state();
        r
    }

    fn check_state(&self) {
        if self.failed {
            assert!(!self.conn.is_active(), "failed but active");
            assert_eq!(self.conn.poll_timeout(), None, "failed but has a deadline");
            assert!(self.conn.error().is_some());
        } else {
            assert_eq!(
                self.conn.error(),
                None,
                "error() set without an error returned"
            );
        }
        if self.conn.is_active() {
            assert!(self.conn.peer().is_some(), "active without peer info");
            assert!(
                !self.authenticates || self.accepted,
                "active without authentication"
            );
        }
    }

    fn check_event(&mut self, ev: &Event) {
        match ev {
            Event::AuthRequest(_) => {
                assert!(
                    self.authenticates,
                    "AuthRequest from a connection that does not ask"
                );
                assert!(!self.handshake, "AuthRequest after the handshake");
                self.auth_requests += 1;
                assert_eq!(self.auth_requests, 1, "second AuthRequest");
            }
            Event::HandshakeSucceeded(info) => {
                assert!(!self.handshake, "second HandshakeSucceeded");
                assert!(
                    !self.authenticates || self.accepted,
                    "handshake without auth"
                );
                if let Some(t) = info.socket_type {
                    assert!(self.conn.socket_type().is_compatible(t));
                }
                assert_eq!(self.conn.peer(), Some(&**info));
                self.handshake = true;
            }
            Event::Message(m) => {
                assert!(self.handshake, "message before HandshakeSucceeded");
                assert!(!m.is_empty(), "empty message");
                if let Some(max) = self.max_msg_size {
                    assert!(
                        m.iter().all(|f| f.len() as u64 <= max),
                        "frame over maxmsgsize"
                    );
                }
            }
            Event::Subscribe(topic) | Event::Cancel(topic) => {
                assert!(self.handshake, "subscription before HandshakeSucceeded");
                assert!(self.publisher, "subscription reported to a non-publisher");
                if let Some(max) = self.max_msg_size {
                    assert!(topic.len() as u64 <= max);
                }
            }
            _ => {}
        }
    }
}
