//! Socket options, with libzmq's names and defaults.

use std::time::Duration;

use bytes::Bytes;

/// Every socket option, named as in libzmq (`ZMQ_SNDHWM` → `sndhwm`) with
/// libzmq's defaults. Durations are [`Duration`]s; "disabled" is `None`.
///
/// Options that need a wire (`handshake_ivl`, heartbeats, `maxmsgsize`,
/// `tcp_keepalive*`, `ipv6`, `reconnect_ivl*`) are carried here for the
/// transports to read through [`SocketHandle::options`](crate::SocketHandle::options).
///
/// ```
/// use std::time::Duration;
/// let mut opts = zmq_async::SocketOptions::default();
/// assert_eq!(opts.sndhwm, 1000);
/// assert_eq!(opts.linger, None); // forever
/// opts.linger = Some(Duration::ZERO);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// `ZMQ_MAXMSGSIZE`: refuse larger inbound messages; `None` = unlimited.
    pub maxmsgsize: Option<u64>,
    /// `ZMQ_ROUTING_ID`: our identity, sent to peers in the handshake (1–255 bytes, not starting with 0).
    pub routing_id: Option<Bytes>,
    /// `ZMQ_CONNECT_ROUTING_ID`: routing id a ROUTER assigns to the peer of its next `connect`;
    /// consumed by that `connect`.
    pub connect_routing_id: Option<Bytes>,
    /// `ZMQ_ROUTER_MANDATORY`: unroutable messages fail with `HostUnreachable`
    /// and a full peer makes `send` wait (`try_send`: `WouldBlock`) instead of dropping.
    pub router_mandatory: bool,
    /// `ZMQ_ROUTER_HANDOVER`: a new peer with an existing routing id takes it over.
    pub router_handover: bool,
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
        Ok(())
    }
}
