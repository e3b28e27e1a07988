//! From the socket's options to a codec configuration, and from the codec's [`Handshake`]
//! to the socket's [`PeerInfo`].

use std::time::Instant;

use bytes::Bytes;
use zmtp_codec::metadata::USER_ID;
use zmtp_codec::{Config, Connection, Handshake, MechanismConfig, Metadata};

use crate::options::{Security, SocketOptions};
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

/// The socket layer's view of a handshake result: the peer's properties (but for a
/// `User-Id` or `Peer-Address` it claims itself), then the authenticator's metadata and
/// `User-Id`, in one [`Metadata`](zmtp_codec::Metadata). `authenticated` is false when no
/// ZAP handler was asked (then there is no `User-Id`, as in libzmq).
pub(crate) fn peer_info(ours: SocketType, info: Handshake, authenticated: bool) -> PeerInfo {
    let mut metadata = Metadata::new();
    // Names were valid when they came off the wire or out of the ZAP reply.
    for (name, value) in info.metadata.iter() {
        if !claims_local_fact(name) {
            let _ = metadata.insert(name, value.clone());
        }
    }
    for (name, value) in info.auth_metadata.iter() {
        let _ = metadata.insert(name, value.clone());
    }
    if let Some(user_id) = info.user_id.filter(|_| authenticated) {
        let _ = metadata.insert(USER_ID, user_id);
    }
    PeerInfo {
        socket_type: info.socket_type.unwrap_or_else(|| counterpart(ours)),
        routing_id: info.routing_id,
        metadata,
        subscribe_all: false,
    }
}

/// A property only this side can know, which a peer's own claim must not stand for (libzmq
/// would show a `User-Id` claimed by an unauthenticated peer).
fn claims_local_fact(name: &str) -> bool {
    name.eq_ignore_ascii_case(PEER_ADDRESS) || name.eq_ignore_ascii_case(USER_ID)
}

/// What every message from a peer carries, read with `Message::property` (libzmq's
/// `zmq_msg_gets`), in libzmq's precedence, where the first of a name counts:
/// `Peer-Address` (when known), then what the authenticator said (`User-Id` and its
/// metadata, when it was asked), then the peer's own properties (`Socket-Type`, `Identity`,
/// its `X-` names). A peer cannot pass for another address or user by naming one itself:
/// its own `Peer-Address` and `User-Id` are left out.
pub(crate) fn message_properties(
    peer_address: &str,
    info: &Handshake,
    authenticated: bool,
) -> Metadata {
    let mut properties = Metadata::new();
    // Names were valid when they came off the wire or out of the ZAP reply.
    if !peer_address.is_empty() {
        let _ = properties.insert(
            PEER_ADDRESS,
            Bytes::copy_from_slice(peer_address.as_bytes()),
        );
    }
    if authenticated {
        if let Some(user_id) = &info.user_id {
            let _ = properties.insert(USER_ID, user_id.clone());
        }
        for (name, value) in info.auth_metadata.iter() {
            let _ = properties.insert(name, value.clone());
        }
    }
    for (name, value) in info.metadata.iter() {
        if !claims_local_fact(name) {
            let _ = properties.insert(name, value.clone());
        }
    }
    properties
}

/// The message property naming the peer's address (libzmq's `ZMQ_MSG_PROPERTY_PEER_ADDRESS`).
pub(crate) const PEER_ADDRESS: &str = "Peer-Address";

/// The codec's mechanism for these options (checked by [`SocketOptions::security`]).
pub(crate) fn mechanism(o: &SocketOptions) -> crate::Result<MechanismConfig> {
    #[cfg(feature = "curve")]
    let keys = || match (&o.curve_publickey, &o.curve_secretkey) {
        (Some(public), Some(secret)) => Ok((*public, secret.clone())),
        _ => Err(crate::Error::InvalidArgument(
            "CURVE needs our key pair: set curve_publickey and curve_secretkey",
        )),
    };
    Ok(match o.security()? {
        Security::PlainClient => MechanismConfig::PlainClient {
            username: o.plain_username.clone().unwrap_or_default(),
            password: o.plain_password.clone().unwrap_or_default(),
        },
        Security::PlainServer => MechanismConfig::PlainServer,
        #[cfg(feature = "curve")]
        Security::CurveClient => {
            let (public_key, secret_key) = keys()?;
            MechanismConfig::CurveClient {
                public_key,
                secret_key,
                server_key: o.curve_serverkey.unwrap_or_default(),
            }
        }
        #[cfg(feature = "curve")]
        Security::CurveServer => {
            let (public_key, secret_key) = keys()?;
            MechanismConfig::CurveServer {
                public_key,
                secret_key,
            }
        }
        _ => MechanismConfig::Null,
    })
}

/// A fresh codec connection for a socket of type `t`, starting now.
pub(crate) fn connection(
    t: SocketType,
    o: &SocketOptions,
) -> Result<Connection, zmtp_codec::Error> {
    Connection::new(config(t, o)?, now())
}

/// The codec configuration for a socket of type `t` with these options.
pub(crate) fn config(t: SocketType, o: &SocketOptions) -> Result<Config, zmtp_codec::Error> {
    let mut c = Config::new(t);
    // Checked at bind/connect already; options changed since then can still be wrong.
    c.mechanism = mechanism(o)
        .map_err(|_| zmtp_codec::Error::InvalidConfig("inconsistent security options"))?;
    // libzmq asks ZAP about NULL peers only when a domain is set.
    c.authenticate_null = o.zap_domain.as_ref().is_some_and(|d| !d.is_empty());
    if let Some(id) = &o.routing_id {
        c.routing_id = id.clone();
    }
    c.metadata = o.metadata.clone();
    c.max_msg_size = o.maxmsgsize;
    c.handshake_ivl = o.handshake_ivl;
    c.heartbeat_ivl = o.heartbeat_ivl;
    c.heartbeat_ttl = o.heartbeat_ttl;
    c.heartbeat_timeout = o.heartbeat_timeout;
    Ok(c)
}

/// The codec's clock: tokio's, so that paused-time tests drive the codec's timers too.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}
