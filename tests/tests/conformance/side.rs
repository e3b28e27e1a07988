//! One end of a conversation: one of our sockets or a libzmq socket, behind one async API.
//!
//! libzmq calls block, so they run on tokio's blocking pool with `RCVTIMEO`/`SNDTIMEO` set
//! (see [`zmq_tests::libzmq_socket`]); our sockets run on the test's runtime. Scenarios are
//! written once against [`Side`] and run with either implementation on either end.

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use zmq_async::{
    DealerSocket, Message, PairSocket, PubSocket, PullSocket, PushSocket, RepSocket, ReqSocket,
    RouterSocket, SocketOptions, StreamSocket, SubSocket, XPubSocket, XSubSocket,
};
use zmq_tests::{libzmq_socket, unique_ipc_endpoint, IpcEndpoint};

/// Frames as plain byte vectors, the common currency of both implementations.
pub type Frames = Vec<Vec<u8>>;

/// Builds [`Frames`] from string-ish literals: `frames(&["", "hello"])`.
pub fn frames<T: AsRef<[u8]>>(parts: &[T]) -> Frames {
    parts.iter().map(|p| p.as_ref().to_vec()).collect()
}

/// A socket type, for both implementations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pair,
    Pub,
    Sub,
    Req,
    Rep,
    Dealer,
    Router,
    Pull,
    Push,
    XPub,
    XSub,
    /// Raw TCP peers (no ZMTP): `[routing id, bytes]` both ways.
    Stream,
}

impl Kind {
    /// True for the types that send (all but SUB and PULL).
    pub fn can_send(self) -> bool {
        !matches!(self, Kind::Sub | Kind::Pull)
    }

    /// True for the types that receive (all but PUB and PUSH).
    pub fn can_recv(self) -> bool {
        !matches!(self, Kind::Pub | Kind::Push)
    }

    fn libzmq(self) -> zmq::SocketType {
        match self {
            Kind::Pair => zmq::PAIR,
            Kind::Pub => zmq::PUB,
            Kind::Sub => zmq::SUB,
            Kind::Req => zmq::REQ,
            Kind::Rep => zmq::REP,
            Kind::Dealer => zmq::DEALER,
            Kind::Router => zmq::ROUTER,
            Kind::Pull => zmq::PULL,
            Kind::Push => zmq::PUSH,
            Kind::XPub => zmq::XPUB,
            Kind::XSub => zmq::XSUB,
            Kind::Stream => zmq::STREAM,
        }
    }
}

/// The transports of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Ipc,
}

/// Which implementation an end runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impl {
    Ours,
    Libzmq,
}

/// Options a scenario may need on either implementation (a small, common subset).
#[derive(Debug, Clone, Default)]
pub struct Setup {
    pub routing_id: Option<&'static [u8]>,
    pub probe_router: bool,
    pub heartbeat_ivl: Option<Duration>,
    pub heartbeat_ttl: Option<Duration>,
    pub heartbeat_timeout: Option<Duration>,
    pub reconnect_ivl: Option<Duration>,
    pub sndhwm: Option<usize>,
    pub rcvhwm: Option<usize>,
    pub plain: Option<Plain>,
}

/// A PLAIN role (the server asks the process's ZAP handler, see `crate::zap`).
#[derive(Debug, Clone)]
pub enum Plain {
    Server,
    Client { username: String, password: String },
}

/// A bound endpoint; keeps the ipc socket file's guard alive.
#[derive(Debug)]
pub struct Bound {
    pub endpoint: String,
    _ipc: Option<IpcEndpoint>,
}

/// The process-wide libzmq context (one io thread for every test).
pub fn ctx() -> &'static zmq::Context {
    static CTX: OnceLock<zmq::Context> = OnceLock::new();
    CTX.get_or_init(zmq::Context::new)
}

/// A libzmq context of one test's own, never terminated.
///
/// For sockets with a monitor: libzmq's I/O thread sends monitor events with a *blocking*
/// send, so once the monitor's reader is gone, the next event (a disconnect, the close)
/// blocks that thread for good — and with it every socket of the context. Such a context
/// must not be the shared one, and must never be terminated (`zmq_ctx_term` would wait for
/// the blocked thread): it is leaked.
pub fn private_ctx() -> zmq::Context {
    let ctx = zmq::Context::new();
    std::mem::forget(ctx.clone());
    ctx
}

/// One of our sockets, whatever its type.
#[derive(Debug)]
pub enum Ours {
    Pair(PairSocket),
    Pub(PubSocket),
    Sub(SubSocket),
    Req(ReqSocket),
    Rep(RepSocket),
    Dealer(DealerSocket),
    Router(RouterSocket),
    Pull(PullSocket),
    Push(PushSocket),
    XPub(XPubSocket),
    XSub(XSubSocket),
    Stream(StreamSocket),
}

macro_rules! each {
    ($s:expr, $x:ident => $body:expr) => {
        match $s {
            Ours::Pair($x) => $body,
            Ours::Pub($x) => $body,
            Ours::Sub($x) => $body,
            Ours::Req($x) => $body,
            Ours::Rep($x) => $body,
            Ours::Dealer($x) => $body,
            Ours::Router($x) => $body,
            Ours::Pull($x) => $body,
            Ours::Push($x) => $body,
            Ours::XPub($x) => $body,
            Ours::XSub($x) => $body,
            Ours::Stream($x) => $body,
        }
    };
}

macro_rules! senders {
    ($s:expr, $x:ident => $body:expr) => {
        match $s {
            Ours::Pair($x) => $body,
            Ours::Pub($x) => $body,
            Ours::Req($x) => $body,
            Ours::Rep($x) => $body,
            Ours::Dealer($x) => $body,
            Ours::Router($x) => $body,
            Ours::Push($x) => $body,
            Ours::XPub($x) => $body,
            Ours::XSub($x) => $body,
            Ours::Stream($x) => $body,
            other => panic!("{other:?} cannot send"),
        }
    };
}

macro_rules! receivers {
    ($s:expr, $x:ident => $body:expr) => {
        match $s {
            Ours::Pair($x) => $body,
            Ours::Sub($x) => $body,
            Ours::Req($x) => $body,
            Ours::Rep($x) => $body,
            Ours::Dealer($x) => $body,
            Ours::Router($x) => $body,
            Ours::Pull($x) => $body,
            Ours::XPub($x) => $body,
            Ours::XSub($x) => $body,
            Ours::Stream($x) => $body,
            other => panic!("{other:?} cannot receive"),
        }
    };
}

impl Ours {
    /// A new socket of `kind` with `setup` applied.
    pub fn new(kind: Kind, setup: &Setup) -> Ours {
        let mut o = SocketOptions::default();
        o.routing_id = setup.routing_id.map(Bytes::from_static);
        o.probe_router = setup.probe_router;
        o.heartbeat_ivl = setup.heartbeat_ivl;
        o.heartbeat_ttl = setup.heartbeat_ttl;
        o.heartbeat_timeout = setup.heartbeat_timeout;
        if let Some(ivl) = setup.reconnect_ivl {
            o.reconnect_ivl = Some(ivl);
        }
        if let Some(h) = setup.sndhwm {
            o.sndhwm = h;
        }
        if let Some(h) = setup.rcvhwm {
            o.rcvhwm = h;
        }
        match &setup.plain {
            Some(Plain::Server) => o.plain_server = true,
            Some(Plain::Client { username, password }) => {
                o.plain_username = Some(Bytes::from(username.clone()));
                o.plain_password = Some(Bytes::from(password.clone()));
            }
            None => {}
        }
        macro_rules! make {
            ($v:ident, $t:ty) => {
                Ours::$v(<$t>::with_options(o).expect("valid options"))
            };
        }
        match kind {
            Kind::Pair => make!(Pair, PairSocket),
            Kind::Pub => make!(Pub, PubSocket),
            Kind::Sub => make!(Sub, SubSocket),
            Kind::Req => make!(Req, ReqSocket),
            Kind::Rep => make!(Rep, RepSocket),
            Kind::Dealer => make!(Dealer, DealerSocket),
            Kind::Router => make!(Router, RouterSocket),
            Kind::Pull => make!(Pull, PullSocket),
            Kind::Push => make!(Push, PushSocket),
            Kind::XPub => make!(XPub, XPubSocket),
            Kind::XSub => make!(XSub, XSubSocket),
            Kind::Stream => make!(Stream, StreamSocket),
        }
    }

    /// Number of attached peers (connected, or queued for a connect).
    pub fn peer_count(&mut self) -> usize {
        each!(self, s => s.peer_count())
    }
}

/// A libzmq socket driven on the blocking pool.
pub struct Lib {
    kind: Kind,
    sock: Option<zmq::Socket>,
}

impl std::fmt::Debug for Lib {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lib").field("kind", &self.kind).finish()
    }
}

impl Lib {
    /// A new libzmq socket with timeouts, `LINGER` 0 and `setup` applied.
    pub fn new(kind: Kind, setup: &Setup) -> Lib {
        Lib::new_in(ctx(), kind, setup)
    }

    /// Like [`Lib::new`], in context `ctx` (see [`private_ctx`]).
    pub fn new_in(ctx: &zmq::Context, kind: Kind, setup: &Setup) -> Lib {
        let s = libzmq_socket(ctx, kind.libzmq());
        if let Some(id) = setup.routing_id {
            s.set_identity(id).expect("ZMQ_ROUTING_ID");
        }
        if setup.probe_router {
            s.set_probe_router(true).expect("ZMQ_PROBE_ROUTER");
        }
        match &setup.plain {
            Some(Plain::Server) => s.set_plain_server(true).expect("ZMQ_PLAIN_SERVER"),
            Some(Plain::Client { username, password }) => {
                s.set_plain_username(Some(username))
                    .expect("ZMQ_PLAIN_USERNAME");
                s.set_plain_password(Some(password))
                    .expect("ZMQ_PLAIN_PASSWORD");
            }
            None => {}
        }
        let ms = |d: Duration| i32::try_from(d.as_millis()).expect("fits");
        if let Some(d) = setup.heartbeat_ivl {
            s.set_heartbeat_ivl(ms(d)).expect("ZMQ_HEARTBEAT_IVL");
        }
        if let Some(d) = setup.heartbeat_ttl {
            s.set_heartbeat_ttl(ms(d)).expect("ZMQ_HEARTBEAT_TTL");
        }
        if let Some(d) = setup.heartbeat_timeout {
            s.set_heartbeat_timeout(ms(d))
                .expect("ZMQ_HEARTBEAT_TIMEOUT");
        }
        if let Some(d) = setup.reconnect_ivl {
            s.set_reconnect_ivl(ms(d)).expect("ZMQ_RECONNECT_IVL");
        }
        if let Some(h) = setup.sndhwm {
            s.set_sndhwm(h as i32).expect("ZMQ_SNDHWM");
        }
        if let Some(h) = setup.rcvhwm {
            s.set_rcvhwm(h as i32).expect("ZMQ_RCVHWM");
        }
        Lib {
            kind,
            sock: Some(s),
        }
    }

    /// The socket, for calls the wrapper does not cover (quick, non-blocking ones only).
    pub fn raw(&self) -> &zmq::Socket {
        self.sock.as_ref().expect("socket is home")
    }

    /// Runs a blocking call on the socket on the blocking pool.
    pub async fn call<T, F>(&mut self, f: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(&zmq::Socket) -> T + Send + 'static,
    {
        let s = self.sock.take().expect("socket is home");
        let (s, r) = tokio::task::spawn_blocking(move || {
            let r = f(&s);
            (s, r)
        })
        .await
        .expect("libzmq call panicked");
        self.sock = Some(s);
        r
    }
}

/// One end: ours or libzmq.
#[derive(Debug)]
pub enum Side {
    Ours(Box<Ours>),
    Lib(Lib),
}

impl Side {
    /// A new end of `kind` run by `imp`.
    pub fn new(imp: Impl, kind: Kind, setup: &Setup) -> Side {
        match imp {
            Impl::Ours => Side::Ours(Box::new(Ours::new(kind, setup))),
            Impl::Libzmq => Side::Lib(Lib::new(kind, setup)),
        }
    }

    /// The type of this end.
    pub fn kind(&self) -> Kind {
        match self {
            Side::Lib(l) => l.kind,
            Side::Ours(o) => match &**o {
                Ours::Pair(_) => Kind::Pair,
                Ours::Pub(_) => Kind::Pub,
                Ours::Sub(_) => Kind::Sub,
                Ours::Req(_) => Kind::Req,
                Ours::Rep(_) => Kind::Rep,
                Ours::Dealer(_) => Kind::Dealer,
                Ours::Router(_) => Kind::Router,
                Ours::Pull(_) => Kind::Pull,
                Ours::Push(_) => Kind::Push,
                Ours::XPub(_) => Kind::XPub,
                Ours::XSub(_) => Kind::XSub,
                Ours::Stream(_) => Kind::Stream,
            },
        }
    }

    /// Binds a fresh endpoint (tcp port 0 or a unique ipc path) and returns it resolved.
    pub async fn bind(&mut self, t: Transport) -> Bound {
        let (wanted, ipc) = match t {
            Transport::Tcp => ("tcp://127.0.0.1:0".to_owned(), None),
            Transport::Ipc => {
                let ep = unique_ipc_endpoint("conf");
                (ep.as_str().to_owned(), Some(ep))
            }
        };
        let endpoint = self.bind_at(&wanted).await;
        Bound {
            endpoint,
            _ipc: ipc,
        }
    }

    /// Binds exactly `endpoint` (e.g. to restart a peer on the same port).
    pub async fn bind_at(&mut self, endpoint: &str) -> String {
        match self {
            Side::Ours(o) => each!(&mut **o, s => s.bind(endpoint).await.expect("bind")),
            Side::Lib(l) => {
                l.raw().bind(endpoint).expect("libzmq bind");
                l.raw()
                    .get_last_endpoint()
                    .expect("ZMQ_LAST_ENDPOINT")
                    .expect("utf-8")
            }
        }
    }

    /// Connects to `endpoint`.
    pub async fn connect(&mut self, endpoint: &str) {
        match self {
            Side::Ours(o) => each!(&mut **o, s => s.connect(endpoint).await.expect("connect")),
            Side::Lib(l) => l.raw().connect(endpoint).expect("libzmq connect"),
        }
    }

    /// Sends one message.
    pub async fn send(&mut self, parts: Frames) {
        match self {
            Side::Ours(o) => {
                let msg: Message = parts.into_iter().map(Bytes::from).collect();
                senders!(&mut **o, s => s.send(msg).await.expect("send"))
            }
            Side::Lib(l) => l
                .call(move |s| s.send_multipart(parts, 0))
                .await
                .expect("libzmq send"),
        }
    }

    /// Sends one message if it can go at once (no peer, or a full queue: dropped).
    pub async fn try_send(&mut self, parts: Frames) {
        match self {
            Side::Ours(o) => {
                let msg: Message = parts.into_iter().map(Bytes::from).collect();
                senders!(&mut **o, s => {
                    let _ = s.try_send(msg);
                })
            }
            Side::Lib(l) => {
                let _ = l
                    .call(move |s| s.send_multipart(parts, zmq::DONTWAIT))
                    .await;
            }
        }
    }

    /// Receives one message (a hang guard bounds it: [`zmq_tests::IO_TIMEOUT`]).
    pub async fn recv(&mut self) -> Frames {
        self.recv_for(zmq_tests::IO_TIMEOUT)
            .await
            .unwrap_or_else(|| panic!("{:?}: no message within the hang guard", self.kind()))
    }

    /// Receives one message, or `None` if nothing arrives within `d`.
    pub async fn recv_for(&mut self, d: Duration) -> Option<Frames> {
        match self {
            Side::Ours(o) => {
                let got = receivers!(&mut **o, s => tokio::time::timeout(d, s.recv()).await);
                got.ok()
                    .map(|m| m.expect("recv").iter().map(|f| f.to_vec()).collect())
            }
            Side::Lib(l) => {
                let ms = i32::try_from(d.as_millis()).expect("fits");
                l.call(move |s| {
                    s.set_rcvtimeo(ms).expect("ZMQ_RCVTIMEO");
                    let r = s.recv_multipart(0);
                    let back = i32::try_from(zmq_tests::IO_TIMEOUT.as_millis()).expect("fits");
                    s.set_rcvtimeo(back).expect("ZMQ_RCVTIMEO");
                    match r {
                        Ok(m) => Some(m),
                        Err(zmq::Error::EAGAIN) => None,
                        Err(e) => panic!("libzmq recv: {e}"),
                    }
                })
                .await
            }
        }
    }

    /// SUB: subscribe; XSUB: send the subscription message.
    pub async fn subscribe(&mut self, topic: &[u8]) {
        self.subscription(topic, true).await;
    }

    /// SUB: unsubscribe; XSUB: send the cancel message.
    pub async fn unsubscribe(&mut self, topic: &[u8]) {
        self.subscription(topic, false).await;
    }

    async fn subscription(&mut self, topic: &[u8], on: bool) {
        if self.kind() == Kind::XSub {
            let mut m = vec![u8::from(on)];
            m.extend_from_slice(topic);
            return self.send(vec![m]).await;
        }
        if let Side::Ours(o) = self {
            if let Ours::Sub(s) = &mut **o {
                if on {
                    s.subscribe(topic).expect("subscribe");
                } else {
                    s.unsubscribe(topic).expect("unsubscribe");
                }
                return;
            }
        }
        match self {
            Side::Lib(l) if on => l.raw().set_subscribe(topic).expect("ZMQ_SUBSCRIBE"),
            Side::Lib(l) => l.raw().set_unsubscribe(topic).expect("ZMQ_UNSUBSCRIBE"),
            other => panic!("{:?} cannot subscribe", other.kind()),
        }
    }
}

/// libzmq monitor events (zmq.h), the ones the tests wait for.
pub mod event {
    pub const ACCEPTED: u16 = 0x0020;
    pub const DISCONNECTED: u16 = 0x0200;
    pub const HANDSHAKE_SUCCEEDED: u16 = 0x1000;
    pub const ALL: i32 = 0xffff;
}

/// A libzmq socket monitor: the PAIR socket that reads `zmq_socket_monitor` events.
pub struct Monitor {
    pair: Option<zmq::Socket>,
}

impl Monitor {
    /// Starts monitoring every event of `socket`, which must belong to `ctx`, a
    /// [`private_ctx`].
    pub fn new(ctx: &zmq::Context, socket: &zmq::Socket) -> Monitor {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let ep = format!(
            "inproc://conformance-monitor-{}",
            N.fetch_add(1, Ordering::Relaxed)
        );
        socket.monitor(&ep, event::ALL).expect("zmq_socket_monitor");
        let pair = libzmq_socket(ctx, zmq::PAIR);
        pair.connect(&ep).expect("connect monitor");
        Monitor { pair: Some(pair) }
    }

    /// The next event (its number), waiting at most `d`; `None` if none came.
    pub async fn next_for(&mut self, d: Duration) -> Option<u16> {
        let pair = self.pair.take().expect("monitor is home");
        let ms = i32::try_from(d.as_millis()).expect("fits");
        let (pair, ev) = tokio::task::spawn_blocking(move || {
            pair.set_rcvtimeo(ms).expect("RCVTIMEO");
            let ev = match pair.recv_multipart(0) {
                Ok(frames) => Some(u16::from_le_bytes([frames[0][0], frames[0][1]])),
                Err(zmq::Error::EAGAIN) => None,
                Err(e) => panic!("monitor recv: {e}"),
            };
            (pair, ev)
        })
        .await
        .expect("monitor thread");
        self.pair = Some(pair);
        ev
    }

    /// Waits (hang guard: [`zmq_tests::IO_TIMEOUT`]) for event `want`, returning the events
    /// seen before it.
    pub async fn wait_for(&mut self, want: u16) -> Vec<u16> {
        let mut before = Vec::new();
        loop {
            match self.next_for(zmq_tests::IO_TIMEOUT).await {
                Some(e) if e == want => return before,
                Some(e) => before.push(e),
                None => panic!("monitor: no event {want:#x} (saw {before:x?})"),
            }
        }
    }
}
