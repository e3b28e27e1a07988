//! Socket options, with libzmq's names and defaults.

use std::time::Duration;

use bytes::Bytes;
use zmtp_codec::Metadata;
#[cfg(feature = "curve")]
use zmtp_codec::{CurveKeyPair, CurveSecretKey};

/// Every socket option, named as in libzmq (`ZMQ_SNDHWM` → `sndhwm`) with
/// libzmq's defaults. Durations are [`Duration`]s; "disabled" is `None`.
///
/// Options that need a wire (`handshake_ivl`, heartbeats, `maxmsgsize`,
/// `tcp_keepalive*`, `ipv6`, `reconnect_ivl*`) are carried here for the
/// transports to read through `SocketHandle::options`.
///
/// ```
/// use std::time::Duration;
/// let mut opts = zmq_async::SocketOptions::default();
/// assert_eq!(opts.sndhwm, 1000);
/// assert_eq!(opts.linger, None); // forever
/// opts.linger = Some(Duration::ZERO);
/// ```
///
/// # Security
///
/// The mechanism follows from the security options as in libzmq: `plain_server` or
/// `plain_username` select PLAIN, `curve_server` or `curve_serverkey` select CURVE, and
/// NULL applies otherwise ([`SocketOptions::mechanism`]). Options that contradict each
/// other (PLAIN and CURVE both selected, or both roles of one mechanism) and a CURVE
/// socket without its own key pair make tcp/ipc `bind` and `connect` fail with
/// [`Error::InvalidArgument`](crate::Error::InvalidArgument). inproc ignores security,
/// as in libzmq. Built without the `curve` feature (on by default), the CURVE options
/// fail the same way, and the key setters at once.
///
/// ```
/// use zmq_async::{Security, SocketOptions};
/// let mut opts = SocketOptions::default();
/// opts.set_curve_serverkey("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7").unwrap();
/// assert_eq!(opts.mechanism(), Security::CurveClient);
/// assert!(opts.set_curve_publickey("too short").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SocketOptions {
    /// `ZMQ_SNDHWM`: outbound queue limit per peer, in messages; `0` = unlimited.
    pub sndhwm: usize,
    /// `ZMQ_RCVHWM`: inbound queue limit per peer, in messages; `0` = unlimited.
    pub rcvhwm: usize,
    /// `ZMQ_LINGER`: how long queued outbound messages survive the socket
    /// being dropped. `None` = forever (libzmq's `-1`), `Some(ZERO)` = discard.
    pub linger: Option<Duration>,
    /// `ZMQ_RECONNECT_IVL`: wait before reconnecting (100 ms). `None` = never reconnect.
    pub reconnect_ivl: Option<Duration>,
    /// `ZMQ_RECONNECT_IVL_MAX`: cap of the exponential back-off; `None` = no back-off.
    pub reconnect_ivl_max: Option<Duration>,
    /// `ZMQ_HANDSHAKE_IVL`: handshake deadline (30 s); `None` = no deadline.
    pub handshake_ivl: Option<Duration>,
    /// `ZMQ_HEARTBEAT_IVL`: send PING this often; `None` = no heartbeats.
    pub heartbeat_ivl: Option<Duration>,
    /// `ZMQ_HEARTBEAT_TTL`: TTL advertised in PING; `None` = 0.
    pub heartbeat_ttl: Option<Duration>,
    /// `ZMQ_HEARTBEAT_TIMEOUT`: close if silent this long; `None` = `heartbeat_ivl`.
    pub heartbeat_timeout: Option<Duration>,
    /// `ZMQ_MAXMSGSIZE`: the largest inbound *message* a peer may send; a larger one closes
    /// that peer's connection. `None` = no limit of its own (frames the process cannot
    /// allocate still close the connection). Unlike libzmq, which checks each frame, the
    /// limit covers the whole multipart message: the bodies of all its frames plus
    /// [`zmtp_codec::FRAME_OVERHEAD`] (40 bytes) for every frame after the first, so a peer
    /// cannot grow memory with endless empty frames flagged MORE.
    pub maxmsgsize: Option<u64>,
    /// `ZMQ_ROUTING_ID`: our identity, sent to peers in the handshake (1–255 bytes, not starting with 0).
    pub routing_id: Option<Bytes>,
    /// `ZMQ_CONNECT_ROUTING_ID`: routing id a ROUTER or STREAM assigns to the peer of its next
    /// `connect`; consumed by that `connect`.
    pub connect_routing_id: Option<Bytes>,
    /// `ZMQ_ROUTER_MANDATORY`: unroutable messages fail with `HostUnreachable`
    /// and a full peer makes `send` wait (`try_send`: `WouldBlock`) instead of dropping.
    pub router_mandatory: bool,
    /// `ZMQ_ROUTER_HANDOVER`: a new peer with an existing routing id takes it over.
    pub router_handover: bool,
    /// `ZMQ_STREAM_NOTIFY`: a STREAM socket receives `[routing id, empty]` when a peer
    /// connects and when it disconnects (on by default).
    pub stream_notify: bool,
    /// `ZMQ_XPUB_VERBOSE`: pass duplicate subscriptions up to the XPUB user.
    pub xpub_verbose: bool,
    /// `ZMQ_XPUB_WELCOME_MSG`: sent to every new subscriber.
    pub xpub_welcome_msg: Option<Bytes>,
    /// `ZMQ_CONFLATE`: keep only the last message in each pipe.
    pub conflate: bool,
    /// `ZMQ_IMMEDIATE`: create a peer's pipes only once the peer is there.
    pub immediate: bool,
    /// `ZMQ_PROBE_ROUTER`: send an empty message to each new peer (ROUTER, DEALER, REQ).
    pub probe_router: bool,
    /// `ZMQ_REQ_CORRELATE`: REQ prefixes a 4-byte request id and checks it on replies.
    pub req_correlate: bool,
    /// `ZMQ_REQ_RELAXED`: REQ may send again before a reply arrives.
    pub req_relaxed: bool,
    /// `ZMQ_TCP_KEEPALIVE`: `None` = OS default (libzmq's `-1`).
    pub tcp_keepalive: Option<bool>,
    /// `ZMQ_TCP_KEEPALIVE_CNT`: `None` = OS default.
    pub tcp_keepalive_cnt: Option<u32>,
    /// `ZMQ_TCP_KEEPALIVE_IDLE`: `None` = OS default.
    pub tcp_keepalive_idle: Option<Duration>,
    /// `ZMQ_TCP_KEEPALIVE_INTVL`: `None` = OS default.
    pub tcp_keepalive_intvl: Option<Duration>,
    /// `ZMQ_IPV6`: allow IPv6 on tcp endpoints.
    pub ipv6: bool,
    /// `ZMQ_BACKLOG`: the tcp listen queue length (100), and how many handshaken peers may
    /// wait for the socket to take them in: at that many, a listener stops accepting until
    /// the socket is next used (sent on, received from, or polled). libzmq has no such
    /// limit; `0` = none.
    pub backlog: u32,
    /// `ZMQ_PLAIN_SERVER`: act as PLAIN server (selects PLAIN).
    pub plain_server: bool,
    /// `ZMQ_PLAIN_USERNAME`: act as PLAIN client with this name (1–255 bytes; selects PLAIN).
    pub plain_username: Option<Bytes>,
    /// `ZMQ_PLAIN_PASSWORD`: the PLAIN client's password (at most 255 bytes; `None` = empty).
    pub plain_password: Option<Bytes>,
    /// `ZMQ_CURVE_SERVER`: act as CURVE server (selects CURVE); needs our key pair.
    pub curve_server: bool,
    /// `ZMQ_CURVE_PUBLICKEY`: our long-term public key. Set with
    /// [`set_curve_publickey`](Self::set_curve_publickey) (32 bytes or 40 Z85 characters).
    pub curve_publickey: Option<[u8; 32]>,
    /// `ZMQ_CURVE_SECRETKEY`: our long-term secret key (redacted in `Debug`). Set with
    /// [`set_curve_secretkey`](Self::set_curve_secretkey) (32 bytes or 40 Z85 characters).
    #[cfg(feature = "curve")]
    #[cfg_attr(docsrs, doc(cfg(feature = "curve")))]
    pub curve_secretkey: Option<CurveSecretKey>,
    /// `ZMQ_CURVE_SERVERKEY`: the server's public key; makes this socket a CURVE client.
    /// Set with [`set_curve_serverkey`](Self::set_curve_serverkey).
    pub curve_serverkey: Option<[u8; 32]>,
    /// `ZMQ_ZAP_DOMAIN`: the domain sent to the ZAP handler (at most 255 bytes). With NULL
    /// the handler is asked only when a domain is set; PLAIN and CURVE servers always ask.
    pub zap_domain: Option<String>,
    /// `ZMQ_ZAP_ENFORCE_DOMAIN` (draft in libzmq): follow RFC 27 strictly when no ZAP handler
    /// is bound. Off (the default), as libzmq 4.3: a NULL server with a `zap_domain` and a
    /// CURVE server accept every peer without a handler. On: both fail such handshakes
    /// (closing the connection at once, where libzmq leaves it silent until its
    /// `handshake_ivl`), a CURVE server without a `zap_domain` asks no handler at all, and a
    /// PLAIN server needs a `zap_domain` (`bind` and `connect` fail without, where libzmq
    /// aborts).
    pub zap_enforce_domain: bool,
    /// `ZMQ_CONNECT_TIMEOUT`: how long one tcp connection attempt may take before it is
    /// given up (and retried after `reconnect_ivl`); `None` (libzmq's `0`, the default)
    /// leaves it to the kernel.
    pub connect_timeout: Option<Duration>,
    /// `ZMQ_TOS`: the IP type-of-service byte of the socket's tcp connections (`IP_TOS`,
    /// `IPV6_TCLASS`); `0` (the default) leaves the system's.
    pub tos: u32,
    /// `ZMQ_BINDTODEVICE`: the network device (interface or VRF) the socket's tcp
    /// connections and listeners are bound to (`SO_BINDTODEVICE`, Linux only, which before
    /// 5.7 needs `CAP_NET_RAW`); `None` (the default) binds to none.
    pub bindtodevice: Option<String>,
    /// `ZMQ_SNDBUF`: the kernel send buffer of tcp connections, in bytes; `None` (libzmq's
    /// `-1`, the default) leaves the system's.
    pub sndbuf: Option<usize>,
    /// `ZMQ_RCVBUF`: the kernel receive buffer of tcp connections, in bytes; `None`
    /// (libzmq's `-1`, the default) leaves the system's.
    pub rcvbuf: Option<usize>,
    /// `ZMQ_WSS_CERT_PEM`: the certificate chain a `wss://` listener presents, in PEM (a
    /// wss bind needs it and [`wss_key_pem`](Self::wss_key_pem)).
    pub wss_cert_pem: Option<Bytes>,
    /// `ZMQ_WSS_KEY_PEM`: the private key of [`wss_cert_pem`](Self::wss_cert_pem), in PEM
    /// (PKCS#8, PKCS#1 or SEC1); redacted in `Debug`.
    pub wss_key_pem: Option<Bytes>,
    /// `ZMQ_WSS_TRUST_PEM`: the certificates a `wss://` connect trusts, in PEM (a wss
    /// connect needs them or [`wss_trust_system`](Self::wss_trust_system)).
    pub wss_trust_pem: Option<Bytes>,
    /// `ZMQ_WSS_HOSTNAME`: the name a `wss://` connect checks the server's certificate for;
    /// `None` = the endpoint's host (a name, or an IP address).
    pub wss_hostname: Option<String>,
    /// `ZMQ_WSS_TRUST_SYSTEM`: a `wss://` connect also trusts the system's root
    /// certificates (`false` by default, as in libzmq).
    pub wss_trust_system: bool,
    /// `ZMQ_RECONNECT_STOP` (draft in libzmq): when a connect stops reconnecting; empty (the
    /// default) = never. See [`ReconnectStop`].
    pub reconnect_stop: ReconnectStop,
    /// `ZMQ_ROUTER_NOTIFY` (draft in libzmq): a ROUTER receives `[routing id, ""]` when a tcp
    /// or ipc peer completes its handshake ([`RouterNotify::CONNECT`]) or its connection
    /// ends after one ([`RouterNotify::DISCONNECT`]). Empty (the default) = neither.
    pub router_notify: RouterNotify,
    /// `ZMQ_XPUB_NODROP`: PUB and XPUB do not drop a message when a matching subscriber is
    /// at its `sndhwm`: `send` waits until every matching subscriber has room, and
    /// `try_send` fails with `WouldBlock` (libzmq's `EAGAIN`). Off by default.
    pub xpub_nodrop: bool,
    /// `ZMQ_XPUB_MANUAL`: an XPUB applies no subscription by itself; every subscribe and
    /// cancel reaches the user, who subscribes the peer that sent the last one with
    /// [`XPubSocket::subscribe`](crate::XPubSocket) (libzmq's `ZMQ_SUBSCRIBE` on XPUB).
    pub xpub_manual: bool,
    /// `ZMQ_INVERT_MATCHING`: PUB and XPUB send each message to the subscribers whose
    /// subscriptions do *not* match it; SUB delivers the messages that match none of its
    /// subscriptions. A SUB of an inverted PUB must set it too.
    pub invert_matching: bool,
    /// `ZMQ_HELLO_MSG` (draft in libzmq): DEALER and ROUTER send this one-frame message
    /// first to every new peer: on every tcp or ipc connection (reconnections included),
    /// and on every inproc link (a ROUTER's reaches the peer without envelope). `None` (the
    /// default) sends none.
    pub hello_msg: Option<Bytes>,
    /// `ZMQ_DISCONNECT_MSG` (draft in libzmq): a ROUTER receives this one-frame message,
    /// behind the peer's routing id, when a peer it accepted (tcp or ipc) disconnects after
    /// its handshake. `None` (the default) = none.
    pub disconnect_msg: Option<Bytes>,
    /// `ZMQ_HICCUP_MSG` (draft in libzmq): a DEALER receives this one-frame message when a
    /// tcp or ipc connection it made drops after its handshake (it reconnects as usual).
    /// `None` (the default) = none.
    pub hiccup_msg: Option<Bytes>,
    /// `ZMQ_METADATA` (draft in libzmq): properties of our own sent in every handshake's
    /// READY (or INITIATE), read on the peer with [`Message::property`](crate::Message) or
    /// libzmq's `zmq_msg_gets`. Names start with `X-` (libzmq's rule); add them with
    /// [`add_metadata`](Self::add_metadata).
    pub metadata: Metadata,
    /// `ZMQ_RATE`: a `pgm://`/`epgm://` publisher's data rate limit in kbit/s, IP and UDP
    /// headers counted; it also sizes the repair windows with `recovery_ivl` (100).
    pub rate: u32,
    /// `ZMQ_RECOVERY_IVL`: how long a multicast publisher keeps sent data to repair losses,
    /// and how long its receivers may ask (10 s; not zero).
    pub recovery_ivl: Duration,
    /// `ZMQ_MULTICAST_HOPS`: the TTL of multicast sent (1: the local network; 1–255).
    pub multicast_hops: u32,
    /// `ZMQ_MULTICAST_MAXTPDU`: the largest multicast packet, IP header included (1500;
    /// at least 128 here).
    pub multicast_maxtpdu: u16,
}

/// The security mechanism a socket's options select, and its role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Security {
    /// No security (the default).
    Null,
    /// PLAIN client (`plain_username`).
    PlainClient,
    /// PLAIN server (`plain_server`).
    PlainServer,
    /// CURVE client (`curve_serverkey`).
    CurveClient,
    /// CURVE server (`curve_server`).
    CurveServer,
}

impl std::fmt::Debug for SocketOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = |k: &Option<[u8; 32]>| k.as_ref().map(zmtp_codec::z85::encode_key);
        let mut f = f.debug_struct("SocketOptions");
        f.field("sndhwm", &self.sndhwm)
            .field("rcvhwm", &self.rcvhwm)
            .field("linger", &self.linger)
            .field("reconnect_ivl", &self.reconnect_ivl)
            .field("reconnect_ivl_max", &self.reconnect_ivl_max)
            .field("handshake_ivl", &self.handshake_ivl)
            .field("heartbeat_ivl", &self.heartbeat_ivl)
            .field("heartbeat_ttl", &self.heartbeat_ttl)
            .field("heartbeat_timeout", &self.heartbeat_timeout)
            .field("maxmsgsize", &self.maxmsgsize)
            .field("routing_id", &self.routing_id)
            .field("connect_routing_id", &self.connect_routing_id)
            .field("router_mandatory", &self.router_mandatory)
            .field("router_handover", &self.router_handover)
            .field("stream_notify", &self.stream_notify)
            .field("xpub_verbose", &self.xpub_verbose)
            .field("xpub_welcome_msg", &self.xpub_welcome_msg)
            .field("conflate", &self.conflate)
            .field("immediate", &self.immediate)
            .field("probe_router", &self.probe_router)
            .field("req_correlate", &self.req_correlate)
            .field("req_relaxed", &self.req_relaxed)
            .field("tcp_keepalive", &self.tcp_keepalive)
            .field("tcp_keepalive_cnt", &self.tcp_keepalive_cnt)
            .field("tcp_keepalive_idle", &self.tcp_keepalive_idle)
            .field("tcp_keepalive_intvl", &self.tcp_keepalive_intvl)
            .field("ipv6", &self.ipv6)
            .field("backlog", &self.backlog)
            .field("plain_server", &self.plain_server)
            .field("plain_username", &self.plain_username)
            .field(
                "plain_password",
                &self.plain_password.as_ref().map(|_| "<redacted>"),
            )
            .field("curve_server", &self.curve_server)
            .field("curve_publickey", &key(&self.curve_publickey));
        #[cfg(feature = "curve")]
        f.field(
            "curve_secretkey",
            &self.curve_secretkey.as_ref().map(|_| "<redacted>"),
        );
        f.field("curve_serverkey", &key(&self.curve_serverkey))
            .field("zap_domain", &self.zap_domain)
            .field("zap_enforce_domain", &self.zap_enforce_domain)
            .field("connect_timeout", &self.connect_timeout)
            .field("tos", &self.tos)
            .field("bindtodevice", &self.bindtodevice)
            .field("sndbuf", &self.sndbuf)
            .field("rcvbuf", &self.rcvbuf)
            .field("wss_cert_pem", &self.wss_cert_pem.as_ref().map(|_| "<PEM>"))
            .field(
                "wss_key_pem",
                &self.wss_key_pem.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "wss_trust_pem",
                &self.wss_trust_pem.as_ref().map(|_| "<PEM>"),
            )
            .field("wss_hostname", &self.wss_hostname)
            .field("wss_trust_system", &self.wss_trust_system)
            .field("reconnect_stop", &self.reconnect_stop)
            .field("router_notify", &self.router_notify)
            .field("xpub_nodrop", &self.xpub_nodrop)
            .field("xpub_manual", &self.xpub_manual)
            .field("invert_matching", &self.invert_matching)
            .field("hello_msg", &self.hello_msg)
            .field("disconnect_msg", &self.disconnect_msg)
            .field("hiccup_msg", &self.hiccup_msg)
            .field("metadata", &self.metadata)
            .field("rate", &self.rate)
            .field("recovery_ivl", &self.recovery_ivl)
            .field("multicast_hops", &self.multicast_hops)
            .field("multicast_maxtpdu", &self.multicast_maxtpdu)
            .finish()
    }
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            sndhwm: 1000,
            rcvhwm: 1000,
            linger: None,
            reconnect_ivl: Some(Duration::from_millis(100)),
            reconnect_ivl_max: None,
            handshake_ivl: Some(Duration::from_secs(30)),
            heartbeat_ivl: None,
            heartbeat_ttl: None,
            heartbeat_timeout: None,
            maxmsgsize: None,
            routing_id: None,
            connect_routing_id: None,
            router_mandatory: false,
            router_handover: false,
            stream_notify: true,
            xpub_verbose: false,
            xpub_welcome_msg: None,
            conflate: false,
            immediate: false,
            probe_router: false,
            req_correlate: false,
            req_relaxed: false,
            tcp_keepalive: None,
            tcp_keepalive_cnt: None,
            tcp_keepalive_idle: None,
            tcp_keepalive_intvl: None,
            ipv6: false,
            backlog: 100,
            plain_server: false,
            plain_username: None,
            plain_password: None,
            curve_server: false,
            curve_publickey: None,
            #[cfg(feature = "curve")]
            curve_secretkey: None,
            curve_serverkey: None,
            zap_domain: None,
            zap_enforce_domain: false,
            connect_timeout: None,
            tos: 0,
            bindtodevice: None,
            sndbuf: None,
            rcvbuf: None,
            wss_cert_pem: None,
            wss_key_pem: None,
            wss_trust_pem: None,
            wss_hostname: None,
            wss_trust_system: false,
            reconnect_stop: ReconnectStop::NEVER,
            router_notify: RouterNotify::NONE,
            xpub_nodrop: false,
            xpub_manual: false,
            invert_matching: false,
            hello_msg: None,
            disconnect_msg: None,
            hiccup_msg: None,
            metadata: Metadata::new(),
            rate: 100,
            recovery_ivl: Duration::from_secs(10),
            multicast_hops: 1,
            multicast_maxtpdu: 1500,
        }
    }
}

impl SocketOptions {
    /// Checks values libzmq would refuse with `EINVAL`.
    pub fn validate(&self) -> crate::Result<()> {
        for id in [&self.routing_id, &self.connect_routing_id]
            .into_iter()
            .flatten()
        {
            if id.is_empty() || id.len() > 255 {
                return Err(crate::Error::InvalidArgument(
                    "routing id must be 1..=255 bytes",
                ));
            }
        }
        if self.routing_id.as_ref().is_some_and(|id| id[0] == 0) {
            return Err(crate::Error::InvalidArgument(
                "routing id must not start with a zero byte",
            ));
        }
        if self
            .plain_username
            .as_ref()
            .is_some_and(|u| u.is_empty() || u.len() > 255)
        {
            return Err(crate::Error::InvalidArgument(
                "plain_username must be 1..=255 bytes",
            ));
        }
        if self.plain_password.as_ref().is_some_and(|p| p.len() > 255) {
            return Err(crate::Error::InvalidArgument(
                "plain_password must be at most 255 bytes",
            ));
        }
        if self.zap_domain.as_ref().is_some_and(|d| d.len() > 255) {
            return Err(crate::Error::InvalidArgument(
                "zap_domain must be at most 255 bytes",
            ));
        }
        if self
            .metadata
            .iter()
            .any(|(name, _)| !name.starts_with("X-"))
        {
            return Err(crate::Error::InvalidArgument(
                "metadata property names must start with \"X-\"",
            ));
        }
        for msg in [&self.hello_msg, &self.disconnect_msg, &self.hiccup_msg] {
            if msg.as_ref().is_some_and(Bytes::is_empty) {
                return Err(crate::Error::InvalidArgument(
                    "hello_msg, disconnect_msg and hiccup_msg cannot be empty (None sends none)",
                ));
            }
        }
        crate::net::check_multicast_options(self)
    }

    /// The mechanism these options select (libzmq's `ZMQ_MECHANISM` plus the role), or
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) when options contradict
    /// each other or a CURVE socket lacks its key pair. `bind` and `connect` on tcp and
    /// ipc check this.
    pub fn security(&self) -> crate::Result<Security> {
        use crate::Error::InvalidArgument;
        let plain = self.plain_server || self.plain_username.is_some();
        let curve = self.curve_server || self.curve_serverkey.is_some();
        if plain && curve {
            return Err(InvalidArgument(
                "both PLAIN (plain_server/plain_username) and CURVE \
                 (curve_server/curve_serverkey) options are set",
            ));
        }
        if self.plain_server && self.plain_username.is_some() {
            return Err(InvalidArgument(
                "plain_server and plain_username are both set: a socket is PLAIN server or client",
            ));
        }
        if self.curve_server && self.curve_serverkey.is_some() {
            return Err(InvalidArgument(
                "curve_server and curve_serverkey are both set: a socket is CURVE server or client",
            ));
        }
        if curve {
            self.check_curve_keys()?;
        }
        if self.plain_server
            && self.zap_enforce_domain
            && !self.zap_domain.as_ref().is_some_and(|d| !d.is_empty())
        {
            return Err(InvalidArgument(
                "a PLAIN server with zap_enforce_domain needs a zap_domain",
            ));
        }
        Ok(match (plain, curve) {
            (true, _) if self.plain_server => Security::PlainServer,
            (true, _) => Security::PlainClient,
            (_, true) if self.curve_server => Security::CurveServer,
            (_, true) => Security::CurveClient,
            _ => Security::Null,
        })
    }

    /// A CURVE socket's key pair: both set, and belonging together.
    #[cfg(feature = "curve")]
    fn check_curve_keys(&self) -> crate::Result<()> {
        use crate::Error::InvalidArgument;
        let (Some(public), Some(secret)) = (&self.curve_publickey, &self.curve_secretkey) else {
            return Err(InvalidArgument(
                "CURVE needs our key pair: set curve_publickey and curve_secretkey",
            ));
        };
        if secret.public_key() != *public {
            return Err(InvalidArgument(
                "curve_publickey does not belong to curve_secretkey",
            ));
        }
        Ok(())
    }

    #[cfg(not(feature = "curve"))]
    fn check_curve_keys(&self) -> crate::Result<()> {
        curve_built_in()
    }

    /// The mechanism these options select, without the consistency checks of
    /// [`security`](Self::security): CURVE wins over PLAIN, the server role over the client's.
    pub fn mechanism(&self) -> Security {
        if self.curve_server {
            Security::CurveServer
        } else if self.curve_serverkey.is_some() {
            Security::CurveClient
        } else if self.plain_server {
            Security::PlainServer
        } else if self.plain_username.is_some() {
            Security::PlainClient
        } else {
            Security::Null
        }
    }

    /// `ZMQ_CURVE_PUBLICKEY` from 32 bytes or 40 Z85 characters (41 with a trailing NUL,
    /// as libzmq accepts).
    pub fn set_curve_publickey(&mut self, key: impl AsRef<[u8]>) -> crate::Result<()> {
        self.curve_publickey = Some(parse_key(key.as_ref())?);
        Ok(())
    }

    /// `ZMQ_CURVE_SECRETKEY` from 32 bytes or 40 Z85 characters.
    pub fn set_curve_secretkey(&mut self, key: impl AsRef<[u8]>) -> crate::Result<()> {
        let key = parse_key(key.as_ref())?;
        #[cfg(feature = "curve")]
        {
            self.curve_secretkey = Some(CurveSecretKey::from_bytes(key));
        }
        #[cfg(not(feature = "curve"))]
        let _ = key;
        Ok(())
    }

    /// `ZMQ_CURVE_SERVERKEY` from 32 bytes or 40 Z85 characters; makes this socket a
    /// CURVE client.
    pub fn set_curve_serverkey(&mut self, key: impl AsRef<[u8]>) -> crate::Result<()> {
        self.curve_serverkey = Some(parse_key(key.as_ref())?);
        Ok(())
    }

    /// Sets `curve_publickey` and `curve_secretkey` from a key pair.
    #[cfg(feature = "curve")]
    #[cfg_attr(docsrs, doc(cfg(feature = "curve")))]
    pub fn set_curve_keypair(&mut self, pair: &CurveKeyPair) {
        self.curve_publickey = Some(pair.public);
        self.curve_secretkey = Some(pair.secret.clone());
    }

    /// `ZMQ_METADATA`: adds a property in libzmq's `"X-name:value"` form. The name must
    /// start with `X-` and be a valid property name (at most 255 characters of
    /// `A-Z a-z 0-9 - _ . +`), the value must not be empty; a name already set keeps its
    /// first value, as in libzmq.
    ///
    /// ```
    /// let mut opts = zmq_async::SocketOptions::default();
    /// opts.add_metadata("X-Service:billing").unwrap();
    /// assert_eq!(&opts.metadata.get("X-Service").unwrap()[..], b"billing");
    /// assert!(opts.add_metadata("Service:billing").is_err());
    /// ```
    pub fn add_metadata(&mut self, property: &str) -> crate::Result<()> {
        let bad = crate::Error::InvalidArgument(
            "metadata must be \"X-name:value\" with a valid name and a value",
        );
        let Some((name, value)) = property.split_once(':') else {
            return Err(bad);
        };
        if !name.starts_with("X-") || value.is_empty() {
            return Err(bad);
        }
        if self.metadata.get(name).is_none() {
            self.metadata
                .insert(name, Bytes::copy_from_slice(value.as_bytes()))
                .map_err(|_| bad)?;
        }
        Ok(())
    }
}

macro_rules! flags {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $flag:ident = $bit:expr;)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
        pub struct $name(u32);

        impl $name {
            $($(#[$fdoc])* pub const $flag: $name = $name($bit);)*

            /// From libzmq's integer; bits it does not define are refused.
            pub fn from_bits(bits: u32) -> Option<Self> {
                let all = 0 $(| $bit)*;
                (bits & !all == 0).then_some($name(bits))
            }

            /// libzmq's integer.
            pub fn bits(self) -> u32 {
                self.0
            }

            /// Whether every flag of `other` is set.
            pub fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }
        }

        impl std::ops::BitOr for $name {
            type Output = $name;

            fn bitor(self, other: Self) -> Self {
                $name(self.0 | other.0)
            }
        }
    };
}

flags! {
    /// `ZMQ_ROUTER_NOTIFY`'s flags: which peer events a ROUTER hears of (combine with `|`).
    RouterNotify {
        /// None (the default).
        NONE = 0;
        /// `ZMQ_NOTIFY_CONNECT`: `[routing id, ""]` once a peer's handshake completes.
        CONNECT = 1;
        /// `ZMQ_NOTIFY_DISCONNECT`: `[routing id, ""]` when a handshaken peer's connection ends.
        DISCONNECT = 2;
    }
}

flags! {
    /// `ZMQ_RECONNECT_STOP`'s flags: when a connect gives up (combine with `|`).
    ReconnectStop {
        /// Never (the default).
        NEVER = 0;
        /// `ZMQ_RECONNECT_STOP_CONN_REFUSED`: when a connection attempt is refused (nothing
        /// listens there; tcp and ipc, where libzmq checks tcp only).
        CONN_REFUSED = 1;
        /// `ZMQ_RECONNECT_STOP_HANDSHAKE_FAILED`: when a handshake fails (the peer speaks
        /// no ZMTP, or refuses us, or drops or stalls the connection before the handshake
        /// ends; set `handshake_ivl` lower than its 30 s to find stalls sooner).
        HANDSHAKE_FAILED = 2;
        /// `ZMQ_RECONNECT_STOP_AFTER_DISCONNECT`: after `disconnect`. Accepted for libzmq's
        /// sake; ours never reconnects after `disconnect`, with or without it.
        AFTER_DISCONNECT = 4;
    }
}

/// Ok if CURVE is built in; what the CURVE options fail with in a build without the
/// `curve` feature.
fn curve_built_in() -> crate::Result<()> {
    if cfg!(feature = "curve") {
        Ok(())
    } else {
        Err(crate::Error::InvalidArgument(
            "CURVE is not built in: enable zmq-async's `curve` feature (on by default)",
        ))
    }
}

/// A CURVE key option value: 32 raw bytes, or its Z85 form (40 characters, or 41 ending
/// in NUL as C callers pass it). Without the `curve` feature, an error.
fn parse_key(value: &[u8]) -> crate::Result<[u8; 32]> {
    curve_built_in()?;
    let bad = crate::Error::InvalidArgument("CURVE key must be 32 bytes or 40 Z85 characters");
    match value.len() {
        32 => value.try_into().map_err(|_| bad),
        41 if value[40] == 0 => zmtp_codec::z85::decode_key(&value[..40]).map_err(|_| bad),
        40 => zmtp_codec::z85::decode_key(value).map_err(|_| bad),
        _ => Err(bad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(feature = "curve"))]
    #[test]
    fn curve_options_fail_without_the_feature() {
        let mut opts = SocketOptions::default();
        let key = [7u8; 32];
        for result in [
            opts.set_curve_publickey(key),
            opts.set_curve_secretkey(key),
            opts.set_curve_serverkey(key),
        ] {
            assert!(
                matches!(result, Err(crate::Error::InvalidArgument(m)) if m.contains("`curve` feature"))
            );
        }
        opts.curve_server = true;
        assert!(matches!(
            opts.security(),
            Err(crate::Error::InvalidArgument(m)) if m.contains("`curve` feature")
        ));
    }

    #[cfg(feature = "curve")]
    #[test]
    fn curve_options_need_a_matching_key_pair() {
        let mut opts = SocketOptions {
            curve_server: true,
            ..SocketOptions::default()
        };
        assert!(opts.security().is_err());
        opts.set_curve_keypair(&CurveKeyPair::generate());
        assert_eq!(opts.security().unwrap(), Security::CurveServer);
    }
}
