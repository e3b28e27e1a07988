//! The user-facing socket: `Socket<T>` for each socket type `T`.

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::marker::PhantomData;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::task::noop_waker_ref;
use futures::{Sink, Stream};
use tokio_util::sync::CancellationToken;
use zmq_transports::Endpoint;
use zmtp_codec::Message;

use crate::coop::Coop;
use crate::inproc::{self, Connect};
use crate::net::{self, EndpointTask};
use crate::peer::{PeerId, Shared, SocketHandle};
use crate::socket_base::Protocol;
use crate::socket_base::SocketBase;
use crate::socket_types;
use crate::{Error, Result, SocketOptions, SocketType, TrySendError};

mod sealed {
    pub trait Sealed {}
}

/// A socket type, as a type parameter of [`Socket`].
pub trait SocketKind: sealed::Sealed + Send + Sync + 'static {
    /// The runtime value of this type.
    const TYPE: SocketType;
}

/// Socket types that can send: their sockets implement [`Sink`] and have `send`.
pub trait CanSend: SocketKind {}

/// Socket types that can receive: their sockets implement [`Stream`] and have `recv`.
pub trait CanRecv: SocketKind {}

/// Marker types naming each socket type (`Socket<kind::Push>` = [`PushSocket`](crate::PushSocket)).
pub mod kind {
    use super::*;

    macro_rules! kinds {
        ($($(#[$doc:meta])* $name:ident = $ty:ident: $($cap:ident),*;)*) => {$(
            $(#[$doc])*
            #[derive(Debug)]
            pub enum $name {}
            impl sealed::Sealed for $name {}
            impl SocketKind for $name {
                const TYPE: SocketType = SocketType::$ty;
            }
            $(impl $cap for $name {})*
        )*};
    }

    kinds! {
        /// PAIR: one peer, both directions.
        Pair = Pair: CanSend, CanRecv;
        /// PUB: send only, fan-out to matching subscribers.
        Pub = Pub: CanSend;
        /// SUB: receive only, filtered by subscriptions.
        Sub = Sub: CanRecv;
        /// REQ: strict request/reply client.
        Req = Req: CanSend, CanRecv;
        /// REP: strict request/reply server.
        Rep = Rep: CanSend, CanRecv;
        /// DEALER: load-balance out, fair-queue in.
        Dealer = Dealer: CanSend, CanRecv;
        /// ROUTER: addresses peers by routing id.
        Router = Router: CanSend, CanRecv;
        /// PULL: fair-queue in.
        Pull = Pull: CanRecv;
        /// PUSH: load-balance out.
        Push = Push: CanSend;
        /// XPUB: PUB that receives subscriptions as messages.
        XPub = XPub: CanSend, CanRecv;
        /// XSUB: SUB that sends subscriptions as messages.
        XSub = XSub: CanSend, CanRecv;
        /// STREAM: raw bytes with plain TCP peers, addressed by routing id.
        Stream = Stream: CanSend, CanRecv;
        // The draft thread-safe types send and receive through `ThreadSafeSocket<T>`
        // (`ClientSocket`, …); a `Socket<T>` of theirs has neither `send` nor `recv`.
        /// CLIENT (draft, thread-safe): DEALER with one frame a message.
        Client = Client: ;
        /// SERVER (draft, thread-safe): replies by the routing id a message carries.
        Server = Server: ;
        /// SCATTER (draft, thread-safe): PUSH with one frame a message.
        Scatter = Scatter: ;
        /// GATHER (draft, thread-safe): PULL with one frame a message.
        Gather = Gather: ;
        /// PEER (draft, thread-safe): SERVER that also connects, learning each peer's id.
        Peer = Peer: ;
        /// CHANNEL (draft, thread-safe): PAIR with one frame a message.
        Channel = Channel: ;
        /// RADIO (draft, thread-safe): sends each message to the DISHes of its group.
        Radio = Radio: ;
        /// DISH (draft, thread-safe): receives the messages of the groups it joined.
        Dish = Dish: ;
    }
}

/// A ZeroMQ socket of type `T` (see the aliases [`PushSocket`](crate::PushSocket), …).
///
/// Receiving sockets are a [`Stream`] of `Result<Message>` that ends after
/// the first error; sending sockets are a [`Sink<Message>`] whose
/// `poll_ready` waits for room (back-pressure). Sockets that do both can be
/// split into two halves owned by two tasks with
/// [`StreamExt::split`](futures::StreamExt::split), or, for any number of tasks, into a
/// cloneable send half and a receive half with [`Socket::into_halves`] (see [`crate::split`]).
///
/// `send` and `recv` are cancel-safe: a future dropped before completion
/// (e.g. the losing branch of `tokio::select!`) has sent or received nothing.
///
/// Dropping the socket applies `linger` to queued outbound messages.
pub struct Socket<T: SocketKind> {
    base: SocketBase,
    proto: Box<dyn Protocol>,
    /// A message accepted by `Sink::start_send` that could not go at once.
    pending: Option<Message>,
    recv_done: bool,
    send_closed: bool,
    /// Operations of the socket's futures, streams and sinks, for Tokio's budget.
    coop: Coop,
    bound: Vec<String>,
    connections: HashMap<String, Vec<Connect>>,
    /// tcp and ipc binds and connects.
    net: Vec<NetEndpoint>,
    /// Cancelled when the socket is dropped: listeners stop, connectors stop reconnecting.
    net_closed: CancellationToken,
    _kind: PhantomData<fn() -> T>,
}

impl<T: SocketKind> std::fmt::Debug for Socket<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("type", &T::TYPE)
            .field("peers", &self.base.peers.len())
            .field("bound", &self.bound)
            .finish_non_exhaustive()
    }
}

impl<T: SocketKind> Default for Socket<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// A tcp or ipc bind or connect of this socket.
#[derive(Debug)]
struct NetEndpoint {
    /// The endpoint as the caller wrote it.
    given: String,
    task: EndpointTask,
    bind: bool,
}

impl NetEndpoint {
    fn matches(&self, endpoint: &str, bind: bool) -> bool {
        self.bind == bind && (self.given == endpoint || self.task.endpoint == endpoint)
    }
}

/// A tcp, ipc, pgm or epgm bind's wait for its listener or multicast session, which needs no socket (see
/// [`Socket::start_bind`]).
pub(crate) struct NetBind {
    handle: SocketHandle,
    endpoint: Endpoint,
    closed: CancellationToken,
    /// A bind (a `udp://` connect also waits for its socket).
    bind: bool,
}

impl NetBind {
    pub(crate) async fn run(self) -> Result<EndpointTask> {
        match self.endpoint {
            Endpoint::Pgm(_) | Endpoint::Epgm(_) => {
                net::multicast(self.handle, &self.endpoint, self.closed).await
            }
            Endpoint::Udp(_) => net::udp(self.handle, &self.endpoint, self.bind, self.closed).await,
            _ => net::bind(self.handle, &self.endpoint, self.closed).await,
        }
    }
}

/// How an endpoint is served: inproc by name, tcp and ipc by a connection task (pgm and
/// epgm by a multicast session).
enum Route<'a> {
    Inproc(&'a str),
    Net(Endpoint),
}

fn route(endpoint: &str) -> Result<Route<'_>> {
    if endpoint.starts_with("inproc://") {
        return inproc_name(endpoint).map(Route::Inproc);
    }
    match endpoint.parse::<Endpoint>() {
        Ok(
            ep @ (Endpoint::Tcp(_)
            | Endpoint::Ipc(_)
            | Endpoint::Ws(_)
            | Endpoint::Wss(_)
            | Endpoint::Pgm(_)
            | Endpoint::Epgm(_)
            | Endpoint::Udp(_)),
        ) => Ok(Route::Net(ep)),
        Ok(_) => Err(Error::TransportUnsupported(endpoint.to_owned())),
        Err(e) => match inproc_name(endpoint) {
            // Schemes we know of but do not serve (ws, tipc, …) keep their own error.
            Err(Error::TransportUnsupported(s)) => Err(Error::TransportUnsupported(s)),
            _ => Err(Error::InvalidEndpoint(e.to_string())),
        },
    }
}

/// [`route`] for binding or connecting a socket of type `t`: STREAM's peers are plain byte
/// streams, so it has tcp and ipc only.
fn route_for(t: SocketType, endpoint: &str) -> Result<Route<'_>> {
    match route(endpoint)? {
        Route::Inproc(_) if t == SocketType::Stream => Err(Error::TransportUnsupported(format!(
            "{endpoint}: STREAM sockets take tcp and ipc only"
        ))),
        r => Ok(r),
    }
}

/// The name of an `inproc://name` endpoint. Any other ZeroMQ scheme (tcp and ipc included)
/// gives `TransportUnsupported`, anything else `InvalidEndpoint`.
fn inproc_name(endpoint: &str) -> Result<&str> {
    let Some((scheme, rest)) = endpoint.split_once("://") else {
        return Err(Error::InvalidEndpoint(endpoint.to_owned()));
    };
    match scheme {
        "inproc" if !rest.is_empty() => Ok(rest),
        "tcp" | "ipc" | "pgm" | "epgm" | "ws" | "wss" | "tipc" | "vmci" => {
            Err(Error::TransportUnsupported(endpoint.to_owned()))
        }
        _ => Err(Error::InvalidEndpoint(endpoint.to_owned())),
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $set:ident($field:ident: $ty:ty);)*) => {$(
        $(#[$doc])*
        pub fn $set(&mut self, value: $ty) -> Result<()> {
            let mut opts = self.base.options.clone();
            opts.$field = value.into();
            self.set_options(opts)
        }
    )*};
}

impl<T: SocketKind> Socket<T> {
    /// A new socket with default options.
    pub fn new() -> Self {
        Self::build(SocketOptions::default())
    }

    /// A new socket with the given options.
    pub fn with_options(options: SocketOptions) -> Result<Self> {
        options.validate()?;
        Ok(Self::build(options))
    }

    fn build(options: SocketOptions) -> Self {
        let shared = Shared::new(T::TYPE, options.clone());
        Socket {
            proto: socket_types::for_type(T::TYPE),
            base: SocketBase::new(shared, options),
            pending: None,
            recv_done: false,
            send_closed: false,
            coop: Coop::default(),
            bound: Vec::new(),
            connections: HashMap::new(),
            net: Vec::new(),
            net_closed: CancellationToken::new(),
            _kind: PhantomData,
        }
    }

    /// The state shared with the socket's transports (monitors, counters).
    pub(crate) fn shared(&self) -> &std::sync::Arc<Shared> {
        &self.base.shared
    }

    /// The socket's core (its peers, for the counters it keeps).
    pub(crate) fn base(&self) -> &SocketBase {
        &self.base
    }

    /// The socket type.
    pub fn socket_type(&self) -> SocketType {
        T::TYPE
    }

    /// The current options.
    pub fn options(&self) -> &SocketOptions {
        &self.base.options
    }

    /// Replaces all options. As in libzmq, HWM, conflate and routing id
    /// changes apply to peers attached afterwards; behaviour options
    /// (`router_mandatory`, `router_handover`, `req_*`, `xpub_*`, `invert_matching`,
    /// `probe_router`) apply from the next operation; what a connection is made or greeted
    /// with (the tcp options, `metadata`, `hello_msg`, `router_notify`, `disconnect_msg`,
    /// `hiccup_msg`, security, heartbeats) applies to binds, connects and handshakes
    /// afterwards.
    pub fn set_options(&mut self, options: SocketOptions) -> Result<()> {
        options.validate()?;
        self.base.shared.set_options(options.clone());
        self.base.options = options;
        Ok(())
    }

    setters! {
        /// `ZMQ_SNDHWM` (messages; 0 = unlimited).
        set_sndhwm(sndhwm: usize);
        /// `ZMQ_RCVHWM` (messages; 0 = unlimited).
        set_rcvhwm(rcvhwm: usize);
        /// `ZMQ_LINGER`: `None` = forever.
        set_linger(linger: Option<Duration>);
        /// `ZMQ_RECONNECT_IVL`.
        set_reconnect_ivl(reconnect_ivl: Option<Duration>);
        /// `ZMQ_RECONNECT_IVL_MAX`.
        set_reconnect_ivl_max(reconnect_ivl_max: Option<Duration>);
        /// `ZMQ_HANDSHAKE_IVL`.
        set_handshake_ivl(handshake_ivl: Option<Duration>);
        /// `ZMQ_HEARTBEAT_IVL`.
        set_heartbeat_ivl(heartbeat_ivl: Option<Duration>);
        /// `ZMQ_HEARTBEAT_TTL`.
        set_heartbeat_ttl(heartbeat_ttl: Option<Duration>);
        /// `ZMQ_HEARTBEAT_TIMEOUT`.
        set_heartbeat_timeout(heartbeat_timeout: Option<Duration>);
        /// `ZMQ_MAXMSGSIZE`.
        set_maxmsgsize(maxmsgsize: Option<u64>);
        /// `ZMQ_BACKLOG` (listen queue; handshaken peers waiting for the socket; 0 = no limit).
        set_backlog(backlog: u32);
        /// `ZMQ_ROUTING_ID` (1–255 bytes, not starting with 0).
        set_routing_id(routing_id: Option<Bytes>);
        /// `ZMQ_CONNECT_ROUTING_ID` (ROUTER, STREAM; consumed by the next `connect`, which
        /// fails with `InvalidArgument` if a peer has that id already).
        set_connect_routing_id(connect_routing_id: Option<Bytes>);
        /// `ZMQ_ROUTER_MANDATORY`.
        set_router_mandatory(router_mandatory: bool);
        /// `ZMQ_ROUTER_HANDOVER`.
        set_router_handover(router_handover: bool);
        /// `ZMQ_STREAM_NOTIFY` (STREAM: connect and disconnect notifications).
        set_stream_notify(stream_notify: bool);
        /// `ZMQ_XPUB_VERBOSE`.
        set_xpub_verbose(xpub_verbose: bool);
        /// `ZMQ_XPUB_WELCOME_MSG`.
        set_xpub_welcome_msg(xpub_welcome_msg: Option<Bytes>);
        /// `ZMQ_CONFLATE`.
        set_conflate(conflate: bool);
        /// `ZMQ_IMMEDIATE`.
        set_immediate(immediate: bool);
        /// `ZMQ_PROBE_ROUTER`.
        set_probe_router(probe_router: bool);
        /// `ZMQ_REQ_CORRELATE`.
        set_req_correlate(req_correlate: bool);
        /// `ZMQ_REQ_RELAXED`.
        set_req_relaxed(req_relaxed: bool);
        /// `ZMQ_TCP_KEEPALIVE`.
        set_tcp_keepalive(tcp_keepalive: Option<bool>);
        /// `ZMQ_IPV6`.
        set_ipv6(ipv6: bool);
        /// `ZMQ_PLAIN_SERVER`: be a PLAIN server (tcp/ipc).
        set_plain_server(plain_server: bool);
        /// `ZMQ_PLAIN_USERNAME`: be a PLAIN client with this name (1–255 bytes).
        set_plain_username(plain_username: Option<Bytes>);
        /// `ZMQ_PLAIN_PASSWORD`: the PLAIN client's password (at most 255 bytes).
        set_plain_password(plain_password: Option<Bytes>);
        /// `ZMQ_CURVE_SERVER`: be a CURVE server (needs our key pair).
        set_curve_server(curve_server: bool);
        /// `ZMQ_ZAP_DOMAIN` (at most 255 bytes).
        set_zap_domain(zap_domain: Option<String>);
        /// `ZMQ_ZAP_ENFORCE_DOMAIN` (draft in libzmq): RFC 27's strict rules without a handler.
        set_zap_enforce_domain(zap_enforce_domain: bool);
        /// `ZMQ_CONNECT_TIMEOUT`: the limit of one tcp connection attempt; `None` = the kernel's.
        set_connect_timeout(connect_timeout: Option<Duration>);
        /// `ZMQ_WSS_CERT_PEM`: the certificate chain a `wss://` listener presents (PEM).
        set_wss_cert_pem(wss_cert_pem: Option<Bytes>);
        /// `ZMQ_WSS_KEY_PEM`: its private key (PEM).
        set_wss_key_pem(wss_key_pem: Option<Bytes>);
        /// `ZMQ_WSS_TRUST_PEM`: the certificates a `wss://` connect trusts (PEM).
        set_wss_trust_pem(wss_trust_pem: Option<Bytes>);
        /// `ZMQ_WSS_HOSTNAME`: the name a `wss://` connect checks the certificate for.
        set_wss_hostname(wss_hostname: Option<String>);
        /// `ZMQ_WSS_TRUST_SYSTEM`: a `wss://` connect also trusts the system's roots.
        set_wss_trust_system(wss_trust_system: bool);
        /// `ZMQ_TOS`: the IP type-of-service byte of tcp connections (0 = the system's).
        set_tos(tos: u32);
        /// `ZMQ_BINDTODEVICE`: the device tcp connections and listeners are bound to.
        set_bindtodevice(bindtodevice: Option<String>);
        /// `ZMQ_SNDBUF`: the kernel send buffer of tcp connections; `None` = the system's.
        set_sndbuf(sndbuf: Option<usize>);
        /// `ZMQ_RCVBUF`: the kernel receive buffer of tcp connections; `None` = the system's.
        set_rcvbuf(rcvbuf: Option<usize>);
        /// `ZMQ_RECONNECT_STOP` (draft in libzmq): when a connect stops reconnecting.
        set_reconnect_stop(reconnect_stop: crate::ReconnectStop);
        /// `ZMQ_ROUTER_NOTIFY` (draft in libzmq): a ROUTER's connect and disconnect messages.
        set_router_notify(router_notify: crate::RouterNotify);
        /// `ZMQ_XPUB_NODROP`: PUB and XPUB wait for room instead of dropping.
        set_xpub_nodrop(xpub_nodrop: bool);
        /// `ZMQ_XPUB_MANUAL`: XPUB's user applies subscriptions with `subscribe`.
        set_xpub_manual(xpub_manual: bool);
        /// `ZMQ_INVERT_MATCHING`: PUB, XPUB and SUB match the messages no subscription matches.
        set_invert_matching(invert_matching: bool);
        /// `ZMQ_HELLO_MSG` (draft in libzmq): DEALER and ROUTER send it on every new connection.
        set_hello_msg(hello_msg: Option<Bytes>);
        /// `ZMQ_DISCONNECT_MSG` (draft in libzmq): a ROUTER receives it when an accepted peer leaves.
        set_disconnect_msg(disconnect_msg: Option<Bytes>);
        /// `ZMQ_HICCUP_MSG` (draft in libzmq): a DEALER receives it when its connection drops.
        set_hiccup_msg(hiccup_msg: Option<Bytes>);
        /// `ZMQ_RATE`: multicast data rate, kbit/s (applies to later `pgm`/`epgm` endpoints).
        set_rate(rate: u32);
        /// `ZMQ_RECOVERY_IVL`: how long multicast data stays repairable.
        set_recovery_ivl(recovery_ivl: Duration);
        /// `ZMQ_MULTICAST_HOPS`: the multicast TTL (1–255).
        set_multicast_hops(multicast_hops: u32);
        /// `ZMQ_MULTICAST_MAXTPDU`: the largest multicast packet, IP header included.
        set_multicast_maxtpdu(multicast_maxtpdu: u16);
    }

    /// `ZMQ_METADATA` (draft in libzmq): adds an `"X-name:value"` property sent in every
    /// handshake from now on (see [`SocketOptions::add_metadata`]).
    pub fn add_metadata(&mut self, property: &str) -> Result<()> {
        let mut opts = self.base.options.clone();
        opts.add_metadata(property)?;
        self.set_options(opts)
    }

    /// `ZMQ_CURVE_PUBLICKEY`: 32 bytes or 40 Z85 characters.
    pub fn set_curve_publickey(&mut self, key: impl AsRef<[u8]>) -> Result<()> {
        let mut opts = self.base.options.clone();
        opts.set_curve_publickey(key)?;
        self.set_options(opts)
    }

    /// `ZMQ_CURVE_SECRETKEY`: 32 bytes or 40 Z85 characters.
    pub fn set_curve_secretkey(&mut self, key: impl AsRef<[u8]>) -> Result<()> {
        let mut opts = self.base.options.clone();
        opts.set_curve_secretkey(key)?;
        self.set_options(opts)
    }

    /// `ZMQ_CURVE_SERVERKEY`: 32 bytes or 40 Z85 characters; makes this socket a CURVE client.
    pub fn set_curve_serverkey(&mut self, key: impl AsRef<[u8]>) -> Result<()> {
        let mut opts = self.base.options.clone();
        opts.set_curve_serverkey(key)?;
        self.set_options(opts)
    }

    /// Sets `curve_publickey` and `curve_secretkey` from a key pair.
    #[cfg(feature = "curve")]
    #[cfg_attr(docsrs, doc(cfg(feature = "curve")))]
    pub fn set_curve_keypair(&mut self, pair: &zmtp_codec::CurveKeyPair) -> Result<()> {
        let mut opts = self.base.options.clone();
        opts.set_curve_keypair(pair);
        self.set_options(opts)
    }

    /// What each connected peer said at its handshake, with what the ZAP handler added
    /// (`User-Id` and the reply's metadata, in [`PeerInfo::metadata`](crate::PeerInfo)).
    /// Messages do not say which peer sent them; with one peer (or a ROUTER's routing
    /// ids) this is how to learn who is on the other side.
    pub fn peer_infos(&mut self) -> Vec<crate::PeerInfo> {
        self.pump();
        self.base
            .peers
            .iter()
            .filter(|(_, p)| p.connected)
            .filter_map(|(_, p)| p.info.clone())
            .collect()
    }

    /// A handle for transports to attach peers (see [`SocketHandle`]).
    #[cfg(feature = "unstable-transport")]
    #[cfg_attr(docsrs, doc(cfg(feature = "unstable-transport")))]
    pub fn handle(&self) -> SocketHandle {
        SocketHandle {
            shared: self.base.shared.clone(),
        }
    }

    /// The same handle for this crate's transports when the plumbing is not public.
    #[cfg(not(feature = "unstable-transport"))]
    pub(crate) fn handle(&self) -> SocketHandle {
        SocketHandle {
            shared: self.base.shared.clone(),
        }
    }

    /// Number of peers currently attached (including ones still handshaking).
    pub fn peer_count(&mut self) -> usize {
        self.pump();
        self.base.sweep(&mut *self.proto);
        self.base.peers.len()
    }

    /// Binds to `endpoint` and returns the resolved endpoint.
    ///
    /// `inproc://`, `tcp://` and `ipc://` are served; the resolved endpoint names the port
    /// a `tcp://…:0` or `tcp://…:*` bind got. `pgm://` and `epgm://` (PUB, XPUB, SUB and
    /// XSUB only, else [`Error::IncompatibleTransport`]) join a multicast group, exactly as
    /// `connect` does (see the crate's README). `udp://` is a DISH's (a
    /// [`ThreadSafeSocket`](crate::ThreadSafeSocket)); other types get
    /// [`Error::IncompatibleTransport`]. Other ZeroMQ schemes (`ws`, `tipc`, …)
    /// return [`Error::TransportUnsupported`]; a malformed endpoint
    /// [`Error::InvalidEndpoint`].
    pub async fn bind(&mut self, endpoint: &str) -> Result<String> {
        match self.start_bind(endpoint)? {
            Ok(resolved) => Ok(resolved),
            Err(net) => {
                let task = net.run().await?;
                Ok(self.finish_bind(endpoint, task))
            }
        }
    }

    /// What `bind` does with the socket before it waits: an inproc bind completes
    /// (`Ok`); a tcp or ipc bind returns what to await without the socket (`Err`), for
    /// [`Socket::finish_bind`]. Split so a socket behind a lock is not held across it.
    pub(crate) fn start_bind(&mut self, endpoint: &str) -> Result<Result<String, NetBind>> {
        let route = route_for(T::TYPE, endpoint)?;
        if let Route::Net(Endpoint::Pgm(_) | Endpoint::Epgm(_)) = route {
            net::check_multicast(T::TYPE, endpoint)?;
        }
        if let Route::Net(Endpoint::Udp(_)) = route {
            net::check_udp(T::TYPE, endpoint, true)?;
        }
        match route {
            Route::Inproc(name) => {
                inproc::bind(name, &self.base.shared)?;
                self.base.shared.span.add_endpoint("bind", endpoint);
                self.bound.push(endpoint.to_owned());
                Ok(Ok(endpoint.to_owned()))
            }
            Route::Net(ep) => Ok(Err(NetBind {
                handle: self.handle(),
                endpoint: ep,
                closed: self.net_closed.clone(),
                bind: true,
            })),
        }
    }

    /// Keeps the listener of a tcp or ipc bind; returns the resolved endpoint.
    pub(crate) fn finish_bind(&mut self, endpoint: &str, task: EndpointTask) -> String {
        let resolved = task.endpoint.clone();
        self.base.shared.span.add_endpoint("bind", &resolved);
        self.net.push(NetEndpoint {
            given: endpoint.to_owned(),
            task,
            bind: true,
        });
        resolved
    }

    /// What this socket's `pgm://` and `epgm://` endpoints received, lost beyond repair,
    /// and dropped as malformed, summed over them (all zero without any, and on a
    /// publisher). Unrecoverable loss is also logged as a `tracing` warning.
    pub fn multicast_stats(&self) -> crate::MulticastStats {
        let mut total = crate::MulticastStats::default();
        for stats in self.net.iter().filter_map(|n| n.task.multicast_stats()) {
            total += stats;
        }
        total
    }

    /// Stops accepting connections on `endpoint` (the endpoint as given to `bind`, or as
    /// `bind` returned it). inproc peers stay; tcp and ipc connections accepted there close.
    pub async fn unbind(&mut self, endpoint: &str) -> Result<()> {
        self.unbind_now(endpoint)
    }

    /// `unbind`, which never waits.
    pub(crate) fn unbind_now(&mut self, endpoint: &str) -> Result<()> {
        if let Some(i) = self.net.iter().position(|n| n.matches(endpoint, true)) {
            let task = self.net.remove(i).task;
            task.stop();
            crate::monitor::listener_closed(&self.base.shared, &task.endpoint);
            return Ok(());
        }
        let name = match route(endpoint)? {
            Route::Inproc(name) => name,
            // A tcp/ipc endpoint this socket is not bound to (libzmq: ENOENT).
            Route::Net(_) => return Err(Error::EndpointNotFound(endpoint.to_owned())),
        };
        let Some(i) = self.bound.iter().position(|e| e == endpoint) else {
            return Err(Error::EndpointNotFound(endpoint.to_owned()));
        };
        self.bound.remove(i);
        inproc::unbind(name, &self.base.shared)
    }

    /// Connects to `endpoint`. With inproc the peer need not be bound yet. `pgm://` and
    /// `epgm://` join the group as `bind` does.
    pub async fn connect(&mut self, endpoint: &str) -> Result<()> {
        let route = route_for(T::TYPE, endpoint)?;
        if let Route::Net(ep @ (Endpoint::Pgm(_) | Endpoint::Epgm(_))) = route {
            net::check_multicast(T::TYPE, endpoint)?;
            let task = net::multicast(self.handle(), &ep, self.net_closed.clone()).await?;
            self.net.push(NetEndpoint {
                given: endpoint.to_owned(),
                task,
                bind: false,
            });
            self.pump();
            return Ok(());
        }
        self.connect_now(endpoint).map(drop)
    }

    /// What `connect` does with the socket before it waits: everything but a `udp://`
    /// connect (a RADIO's), which returns what to await without the socket (`Err`), for
    /// [`Socket::finish_connect`].
    pub(crate) fn start_connect(&mut self, endpoint: &str) -> Result<Result<(), NetBind>> {
        if let Route::Net(ep @ Endpoint::Udp(_)) = route_for(T::TYPE, endpoint)? {
            net::check_udp(T::TYPE, endpoint, false)?;
            return Ok(Err(NetBind {
                handle: self.handle(),
                endpoint: ep,
                closed: self.net_closed.clone(),
                bind: false,
            }));
        }
        self.connect_now(endpoint).map(|_| Ok(()))
    }

    /// Keeps the session of a `udp://` connect.
    pub(crate) fn finish_connect(&mut self, endpoint: &str, task: EndpointTask) {
        self.base.shared.span.add_endpoint("connect", endpoint);
        self.net.push(NetEndpoint {
            given: endpoint.to_owned(),
            task,
            bind: false,
        });
        self.pump();
    }

    /// `connect`, which never waits; returns the peer it attached, if it attached one
    /// (not with `immediate`).
    pub(crate) fn connect_now(&mut self, endpoint: &str) -> Result<Option<PeerId>> {
        let route = route_for(T::TYPE, endpoint)?;
        if let Route::Net(Endpoint::Udp(_)) = route {
            // Only a RADIO connects udp://, through `start_connect`.
            net::check_udp(T::TYPE, endpoint, false)?;
            return Err(Error::IncompatibleTransport(endpoint.to_owned()));
        }
        if let Route::Net(Endpoint::Pgm(_) | Endpoint::Epgm(_)) = route {
            // `connect` opens multicast endpoints before it gets here; for the types
            // that reach this directly (the thread-safe ones) it is the wrong transport.
            net::check_multicast(T::TYPE, endpoint)?;
            return Err(Error::IncompatibleTransport(endpoint.to_owned()));
        }
        let alias = if matches!(T::TYPE, SocketType::Router | SocketType::Stream) {
            let mut opts = self.base.options.clone();
            let alias = opts.connect_routing_id.take();
            if let Some(id) = &alias {
                // libzmq asserts (aborts) on a duplicate; here it is the caller's mistake.
                self.pump();
                if self.proto.routing().is_some_and(|t| t.key_of(id).is_some()) {
                    return Err(Error::InvalidArgument(
                        "connect_routing_id names a peer this socket already has",
                    ));
                }
            }
            if alias.is_some() {
                self.set_options(opts)?;
            }
            alias
        } else {
            None
        };
        let peer = match route {
            Route::Inproc(name) => {
                let conn = inproc::connect(name, &self.base.shared, alias)?;
                self.connections
                    .entry(endpoint.to_owned())
                    .or_default()
                    .push(conn);
                match conn {
                    Connect::Peer(id) => Some(id),
                    Connect::Waiting => None,
                }
            }
            Route::Net(ep) => {
                let task = net::connect(self.handle(), ep, alias, self.net_closed.clone())?;
                let peer = task.peer;
                self.net.push(NetEndpoint {
                    given: endpoint.to_owned(),
                    task,
                    bind: false,
                });
                peer
            }
        };
        self.base.shared.span.add_endpoint("connect", endpoint);
        // Take the new peer in now, so a SUB's subscriptions are queued for it at once.
        self.pump();
        Ok(peer)
    }

    /// The routing id the socket type gave the peer `id` (SERVER, PEER).
    pub(crate) fn routing_id_of(&mut self, id: PeerId) -> Option<NonZeroU32> {
        self.pump();
        let key = self.base.key_of(id)?;
        self.proto.routing_id(key)
    }

    /// Closes the socket and waits until what it queued for its tcp and ipc peers has been
    /// written, or `linger` ran out: libzmq's `zmq_close` followed by `zmq_ctx_term`, for this
    /// socket. Dropping the socket applies `linger` too, but a program that returns from
    /// `main` right after would stop the runtime, and with it the writing; awaiting `close`
    /// first delivers. With `linger` unset (forever), as in libzmq, this waits as long as a
    /// peer with queued messages can still be reached. inproc peers read the queue directly
    /// and are not waited for.
    ///
    /// (Not to be confused with the `Sink` contract's `SinkExt::close`, which only ends
    /// sending.)
    pub async fn shutdown(self) {
        let tasks = self.base.shared.tasks.clone();
        let linger = self.base.options.linger;
        drop(self);
        tasks.close();
        match linger {
            None => tasks.wait().await,
            Some(d) => {
                let _ = tokio::time::timeout(d, tasks.wait()).await;
            }
        }
    }

    /// Drops the peers created by `connect(endpoint)`.
    pub async fn disconnect(&mut self, endpoint: &str) -> Result<()> {
        self.disconnect_now(endpoint)
    }

    /// `disconnect`, which never waits.
    pub(crate) fn disconnect_now(&mut self, endpoint: &str) -> Result<()> {
        let before = self.net.len();
        self.net.retain(|n| {
            let hit = n.matches(endpoint, false);
            if hit {
                n.task.stop();
            }
            !hit
        });
        if self.net.len() != before {
            self.pump();
            return Ok(());
        }
        let name = match route(endpoint)? {
            Route::Inproc(name) => name,
            // A tcp/ipc endpoint this socket is not connected to (libzmq: ENOENT).
            Route::Net(_) => return Err(Error::EndpointNotFound(endpoint.to_owned())),
        };
        let Some(conns) = self.connections.remove(endpoint) else {
            return Err(Error::EndpointNotFound(endpoint.to_owned()));
        };
        inproc::cancel_waiting(name, &self.base.shared);
        self.pump();
        for conn in conns {
            if let Connect::Peer(id) = conn {
                if let Some(key) = self.base.key_of(id) {
                    self.base.drop_peer(&mut *self.proto, key);
                }
            }
        }
        Ok(())
    }

    /// Messages from peers held inside the socket: every inbound pipe (reader cache
    /// included) and the socket type's own queue. Applies the mailbox first (so new peers
    /// count) but does no protocol work, so it reads nothing from the pipes.
    #[cfg(test)]
    pub(crate) fn held_inbound(&mut self) -> usize {
        self.base.pump(&mut *self.proto);
        let piped: usize = self.base.peers.iter().map(|(_, p)| p.inbound.len()).sum();
        piped + self.proto.held()
    }

    /// Commands in the socket's mailbox (takes none).
    #[cfg(test)]
    pub(crate) fn mail_len(&self) -> usize {
        self.base.shared.mail_len()
    }

    /// Peers waiting in the mailbox for the socket to take them in (reads nothing).
    #[cfg(test)]
    pub(crate) fn waiting_peers(&self) -> usize {
        self.base.shared.waiting_peers()
    }

    /// Applies the mailbox and per-poll protocol work.
    fn pump(&mut self) {
        self.base.pump(&mut *self.proto);
        self.proto.housekeeping(&mut self.base);
    }

    /// Receives for a future or a stream: under Tokio's cooperative budget (see [`Coop`]).
    #[inline(always)]
    pub(crate) fn poll_recv_msg(&mut self, cx: &mut Context<'_>) -> Poll<Result<Message>> {
        futures::ready!(self.coop.poll_proceed(cx));
        self.poll_recv_now(cx)
    }

    /// Receives for `try_recv`: without the budget, which would turn a message that is
    /// there into `WouldBlock`.
    #[inline(always)]
    pub(crate) fn poll_recv_now(&mut self, cx: &mut Context<'_>) -> Poll<Result<Message>> {
        self.pump();
        let mut r = self.proto.poll_recv(&mut self.base, cx);
        // Dropping a peer can leave the protocol something to deliver (XPUB: the cancels
        // of subscriptions only that peer held), and nothing would wake us for it: look
        // again (each turn drops a peer, so this ends).
        while self.base.reap(&mut *self.proto) && r.is_pending() {
            r = self.proto.poll_recv(&mut self.base, cx);
        }
        self.recheck_mail(r, cx)
    }

    /// After a `Pending`: mail posted after `pump` looked (a peer attaching, say) woke the
    /// socket's `Notify` before the protocol registered on it, so that wake-up went
    /// nowhere. Look at the mailbox again, now that the waker is registered, and come
    /// back at once if there is some (invariant 7 in `pipe.rs`; the loom model
    /// `loom_mail_posted_while_the_socket_polls_wakes_it`).
    #[inline(always)]
    fn recheck_mail<R>(&self, r: Poll<R>, cx: &mut Context<'_>) -> Poll<R> {
        if r.is_pending() {
            self.recheck_mail_slow(cx);
        }
        r
    }

    #[cold]
    #[inline(never)]
    fn recheck_mail_slow(&self, cx: &mut Context<'_>) {
        if self.base.shared.has_mail() {
            cx.waker().wake_by_ref();
        }
    }

    /// `Sink::poll_ready` without the budget.
    fn poll_ready_now(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.pump();
        futures::ready!(self.poll_pending(cx))?;
        let r = self.proto.poll_ready(&mut self.base, cx);
        self.base.reap(&mut *self.proto);
        self.recheck_mail(r, cx)
    }

    /// Sends what `Sink::start_send` had to keep.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if self.pending.is_none() {
            return Poll::Ready(Ok(()));
        }
        let r = self.proto.poll_send(&mut self.base, cx, &mut self.pending);
        self.base.reap(&mut *self.proto);
        self.recheck_mail(r, cx)
    }

    /// Sends for a future: under Tokio's cooperative budget (see [`Coop`]).
    pub(crate) fn poll_send_msg(
        &mut self,
        cx: &mut Context<'_>,
        slot: &mut Option<Message>,
    ) -> Poll<Result<()>> {
        futures::ready!(self.poll_send_budget(cx));
        self.poll_send_now(cx, slot)
    }

    /// The budget before a send: the messages fanned out since the last one count first
    /// ([`Coop::add`]), then this one.
    #[inline(always)]
    fn poll_send_budget(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let fanned_out = self.take_fanned_out();
        self.coop.add(cx, fanned_out);
        self.coop.poll_proceed(cx)
    }

    /// The pushes into pipes beyond one a message since the last call: the fan-out's work,
    /// for the budget ([`Coop::add`]).
    pub(crate) fn take_fanned_out(&mut self) -> u32 {
        self.base.peers.take_fanned_out()
    }

    /// Sends for `try_send`: without the budget, which would refuse a message there is
    /// room for.
    pub(crate) fn poll_send_now(
        &mut self,
        cx: &mut Context<'_>,
        slot: &mut Option<Message>,
    ) -> Poll<Result<()>> {
        if self.send_closed {
            return Poll::Ready(Err(Error::Closed));
        }
        if slot.as_ref().is_some_and(Message::is_empty) {
            return Poll::Ready(Err(Error::EmptyMessage));
        }
        self.pump();
        futures::ready!(self.poll_pending(cx))?;
        let r = self.proto.poll_send(&mut self.base, cx, slot);
        self.base.reap(&mut *self.proto);
        self.recheck_mail(r, cx)
    }
}

impl<T: CanSend> Socket<T> {
    /// Sends a message, waiting while every eligible peer is at its HWM
    /// (PUSH/DEALER/REQ/PAIR with no peer wait for one; PUB never waits).
    ///
    /// Cancel-safe: if the future is dropped before it completes, the message
    /// was not sent (not even in part); once it completes, the whole message
    /// is queued for its peer.
    pub fn send(&mut self, msg: impl Into<Message>) -> impl Future<Output = Result<()>> + '_ {
        let mut slot = Some(msg.into());
        poll_fn(move |cx| self.poll_send_msg(cx, &mut slot))
    }

    /// Sends without waiting; [`Error::WouldBlock`] (with the message handed
    /// back) when it would have to wait.
    pub fn try_send(&mut self, msg: impl Into<Message>) -> Result<(), TrySendError> {
        let mut slot = Some(msg.into());
        let mut cx = Context::from_waker(noop_waker_ref());
        let sent = self.poll_send_now(&mut cx, &mut slot);
        // No budget for `try_*`: what this message fanned out is charged to no later send.
        self.take_fanned_out();
        TrySendError::from_poll(sent, slot)
    }
}

impl<T: CanRecv> Socket<T> {
    /// Receives the next message.
    ///
    /// Cancel-safe: a message is taken off its pipe only in the poll that
    /// returns it, so a dropped future loses nothing.
    pub fn recv(&mut self) -> impl Future<Output = Result<Message>> + '_ {
        Recv(self)
    }

    /// Receives without waiting; [`Error::WouldBlock`] when nothing is queued.
    pub fn try_recv(&mut self) -> Result<Message> {
        let mut cx = Context::from_waker(noop_waker_ref());
        match self.poll_recv_now(&mut cx) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(Error::WouldBlock),
        }
    }
}

impl Socket<kind::Sub> {
    /// Subscribes to messages whose first frame starts with `topic` (empty = all).
    /// Subscriptions are counted: subscribe twice, unsubscribe twice.
    pub fn subscribe(&mut self, topic: impl AsRef<[u8]>) -> Result<()> {
        self.apply_subscription(topic.as_ref(), true)
    }

    /// Removes one subscription to `topic`.
    pub fn unsubscribe(&mut self, topic: impl AsRef<[u8]>) -> Result<()> {
        self.apply_subscription(topic.as_ref(), false)
    }
}

impl Socket<kind::XPub> {
    /// With `xpub_manual` (libzmq's `ZMQ_SUBSCRIBE` on an XPUB): subscribes the subscriber
    /// whose subscription or cancel this socket received last to `topic`, which need not
    /// be the topic it asked for. Without `xpub_manual`, [`Error::NotSupported`].
    pub fn subscribe(&mut self, topic: impl AsRef<[u8]>) -> Result<()> {
        self.apply_subscription(topic.as_ref(), true)
    }

    /// With `xpub_manual`: removes `topic` from the subscriber whose subscription or cancel
    /// this socket received last. Without `xpub_manual`, [`Error::NotSupported`].
    pub fn unsubscribe(&mut self, topic: impl AsRef<[u8]>) -> Result<()> {
        self.apply_subscription(topic.as_ref(), false)
    }
}

impl<T: SocketKind> Socket<T> {
    pub(crate) fn apply_subscription(&mut self, topic: &[u8], on: bool) -> Result<()> {
        self.pump();
        let r = self.proto.subscribe(&mut self.base, topic, on);
        self.base.reap(&mut *self.proto);
        r
    }
}

impl<T: CanRecv> Stream for Socket<T> {
    type Item = Result<Message>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.recv_done {
            return Poll::Ready(None);
        }
        match futures::ready!(this.poll_recv_msg(cx)) {
            Ok(m) => Poll::Ready(Some(Ok(m))),
            Err(e) => {
                this.recv_done = true;
                Poll::Ready(Some(Err(e)))
            }
        }
    }
}

impl<T: CanRecv> futures::stream::FusedStream for Socket<T> {
    fn is_terminated(&self) -> bool {
        self.recv_done
    }
}

impl<T: CanSend> Sink<Message> for Socket<T> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        if this.send_closed {
            return Poll::Ready(Err(Error::Closed));
        }
        // What `start_send` fanned out counts here, at the next message.
        futures::ready!(this.poll_send_budget(cx));
        this.poll_ready_now(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<()> {
        let this = self.get_mut();
        if this.send_closed {
            return Err(Error::Closed);
        }
        if item.is_empty() {
            return Err(Error::EmptyMessage);
        }
        let mut slot = Some(item);
        let mut cx = Context::from_waker(noop_waker_ref());
        let r = this.proto.poll_send(&mut this.base, &mut cx, &mut slot);
        this.base.reap(&mut *this.proto);
        match r {
            Poll::Ready(r) => r,
            Poll::Pending => {
                // poll_ready said yes, but this message's target (ROUTER) is full:
                // keep it; poll_ready/poll_flush deliver it.
                this.pending = slot;
                Ok(())
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        this.pump();
        match this.poll_pending(cx) {
            Poll::Ready(r) => Poll::Ready(r),
            // Never hang when nobody is there to take it; it goes out later.
            Poll::Pending if this.base.peers.len() == 0 => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        futures::ready!(self.as_mut().poll_flush(cx))?;
        self.get_mut().send_closed = true;
        Poll::Ready(Ok(()))
    }
}

impl<T: SocketKind> Drop for Socket<T> {
    fn drop(&mut self) {
        // Listeners stop and connectors stop reconnecting; live connections drain their
        // outbound pipes under linger, like inproc peers.
        self.net_closed.cancel();
        let shared = self.base.shared.clone();
        for n in self.net.iter().filter(|n| n.bind) {
            crate::monitor::listener_closed(&shared, &n.task.endpoint);
        }
        for endpoint in &self.bound {
            if let Ok(name) = inproc_name(endpoint) {
                let _ = inproc::unbind(name, &shared);
            }
        }
        // Attaches that raced with the drop: process them so linger applies to them too.
        self.base.pump(&mut *self.proto);
        drop(shared.close());
        let linger = self.base.options.linger;
        let peers = self.base.take_peers();
        match linger {
            Some(d) if d.is_zero() => {
                for p in &peers {
                    p.outbound.close_discard();
                }
            }
            None => {} // dropping the writers closes them gracefully: the peer drains them
            Some(d) => {
                let handles: Vec<_> = peers
                    .into_iter()
                    .map(|p| p.outbound.close_lingering())
                    .filter(|h| !h.is_done())
                    .collect();
                if handles.is_empty() {
                    return;
                }
                match tokio::runtime::Handle::try_current() {
                    Ok(rt) => {
                        rt.spawn(async move {
                            tokio::time::sleep(d).await;
                            for h in handles {
                                h.discard();
                            }
                        });
                    }
                    Err(_) => tracing::debug!("no runtime: linger period not enforced"),
                }
            }
        }
    }
}

/// The future of [`Socket::recv`]: a named type, so its `poll` can be inlined into the
/// caller's state machine (a `poll_fn` closure stopped being inlined once the socket's
/// receive path grew by its after-`Pending` mailbox check, +19 instructions a message).
struct Recv<'a, T: SocketKind>(&'a mut Socket<T>);

impl<T: CanRecv> Future for Recv<'_, T> {
    type Output = Result<Message>;

    #[inline(always)]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.poll_recv_msg(cx)
    }
}
