//! From the socket's options to a codec configuration, and from the codec's handshake
//! result to the socket's [`PeerInfo`].

use std::time::Instant;

use zmtp_codec::{Config, Connection};

use crate::options::SocketOptions;
use crate::peer::{PeerInfo, SocketType};

/// The type an unversioned ZMTP 1.0 peer (which never says its type) is taken to be.
fn counterpart(t: SocketType) -> SocketType {
    use SocketType::*;
    match t {
        Pub | XPub => Sub,
        Sub | XSub => Pub,
        Req => Rep,
        Rep => Req,
        Router => Dealer,
        Pull => Push,
        Push => Pull,
        other => other,
    }
}

/// The socket layer's view of a handshake result; the authenticator's user id and
/// metadata join the peer's own properties.
pub(crate) fn peer_info(ours: SocketType, info: zmtp_codec::PeerInfo) -> PeerInfo {
    let mut metadata: Vec<(String, bytes::Bytes)> = info
        .metadata
        .iter()
        .chain(info.auth_metadata.iter())
        .map(|(n, v)| (n.to_owned(), v.clone()))
        .collect();
    if let Some(user_id) = info.user_id {
        metadata.push((zmtp_codec::metadata::USER_ID.to_owned(), user_id));
    }
    PeerInfo {
        socket_type: info.socket_type.unwrap_or_else(|| counterpart(ours)),
        routing_id: info.routing_id,
        metadata,
    }
}

/// A fresh codec connection for a socket of type `t`, starting now.
pub(crate) fn connection(
    t: SocketType,
    o: &SocketOptions,
) -> Result<Connection, zmtp_codec::Error> {
    let mut c = Config::new(t);
    if let Some(id) = &o.routing_id {
        c.routing_id = id.clone();
    }
    c.max_msg_size = o.maxmsgsize;
    c.handshake_ivl = o.handshake_ivl;
    c.heartbeat_ivl = o.heartbeat_ivl;
    c.heartbeat_ttl = o.heartbeat_ttl;
    c.heartbeat_timeout = o.heartbeat_timeout;
    Connection::new(c, now())
}

/// The codec's clock: tokio's, so that paused-time tests drive the codec's timers too.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}
