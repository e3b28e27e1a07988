//! `udp://` on RADIO and DISH (RFC 48): libzmq's `udp_engine` sessions, over
//! [`zmq_transports::udp`].
//!
//! Only a RADIO connects (it sends) and only a DISH binds (it receives), as libzmq allows;
//! any other pairing is [`Error::IncompatibleTransport`]. An endpoint is one peer of the
//! socket however many sockets share the address:
//!
//! - On a RADIO, a task pops what the socket sends to that peer and writes each message
//!   as a datagram. The peer gets every message (libzmq's `subscribe_to_all`): DISHes
//!   filter by group. A message that cannot be a datagram (over 8192 bytes) is dropped
//!   with a `tracing` warning, and a failed send (no route, say) is logged and the next
//!   message tried: UDP promises nothing.
//! - On a DISH, a task pushes each datagram, as a message in its group, into the peer's
//!   inbound pipe (waiting while it is at `rcvhwm`: datagrams wait in, and past its size
//!   are dropped by, the system's buffer), and drops the JOINs and LEAVEs the socket
//!   sends: the DISH filters what arrives. A datagram that does not parse is dropped and
//!   counted ([`MulticastStats::malformed_messages`](crate::MulticastStats)).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use zmq_transports::udp::{UdpReceiver, UdpSender};
use zmq_transports::Endpoint;

use super::pgm::Counters;
use super::{transport_error, EndpointTask};
use crate::peer::{PeerInfo, PeerPipes, SocketHandle, SocketType};
use crate::{Error, Result};

/// libzmq's rule: a RADIO connects a `udp://` endpoint, a DISH binds one
/// (`ENOCOMPATPROTO` for any other socket type, and here for the other direction too).
pub(crate) fn check_socket_type(socket_type: SocketType, endpoint: &str, bind: bool) -> Result<()> {
    match (socket_type, bind) {
        (SocketType::Radio, false) | (SocketType::Dish, true) => Ok(()),
        (SocketType::Radio, true) => Err(Error::IncompatibleTransport(format!(
            "{endpoint}: a RADIO connects udp:// endpoints, it does not bind them"
        ))),
        (SocketType::Dish, false) => Err(Error::IncompatibleTransport(format!(
            "{endpoint}: a DISH binds udp:// endpoints, it does not connect them"
        ))),
        (other, _) => Err(Error::IncompatibleTransport(format!(
            "{endpoint}: {other} sockets cannot use udp://; only RADIO and DISH can"
        ))),
    }
}

/// Opens a `udp://` endpoint: a DISH's bind, a RADIO's connect.
pub(crate) async fn open(
    handle: SocketHandle,
    endpoint: &Endpoint,
    bind: bool,
    socket_closed: CancellationToken,
) -> Result<EndpointTask> {
    let text = endpoint.to_string();
    check_socket_type(handle.socket_type(), &text, bind)?;
    let cancel = CancellationToken::new();
    let counters = Arc::new(Counters::default());
    if bind {
        let receiver = UdpReceiver::open(endpoint).await.map_err(transport_error)?;
        let resolved = receiver.local_endpoint().to_string();
        let span = tracing::debug_span!("zmq.udp", endpoint = %resolved);
        let pipes = handle.attach(Some(PeerInfo::new(SocketType::Radio)), None)?;
        let task = recv_loop(
            receiver,
            pipes,
            counters.clone(),
            cancel.clone(),
            socket_closed,
        );
        handle.spawn(task.instrument(span));
        Ok(EndpointTask::multicast(resolved, cancel, counters))
    } else {
        let options = handle.options();
        let sender = UdpSender::open(endpoint, options.multicast_hops)
            .await
            .map_err(transport_error)?;
        let span = tracing::debug_span!("zmq.udp", endpoint = %text);
        let mut info = PeerInfo::new(SocketType::Dish);
        info.subscribe_all = true;
        let pipes = handle.attach(Some(info), None)?;
        handle.spawn(send_loop(sender, pipes, cancel.clone()).instrument(span));
        Ok(EndpointTask::multicast(text, cancel, counters))
    }
}

/// Writes what the socket sends as datagrams until the socket closes the peer or the
/// endpoint is dropped.
async fn send_loop(sender: UdpSender, mut pipes: PeerPipes, cancel: CancellationToken) {
    while let Some(message) = super::next_to_send(&mut pipes, &cancel).await {
        if let Err(e) = sender.send(&message).await {
            tracing::warn!(error = %e, "udp datagram not sent");
        }
    }
    tracing::debug!("udp sender closed");
}

/// Moves the datagrams received into the socket's inbound pipe, waiting while it is at
/// `rcvhwm`; drops what the socket sends (its JOINs: filtering is local) and what does not
/// parse.
async fn recv_loop(
    mut receiver: UdpReceiver,
    mut pipes: PeerPipes,
    counters: Arc<Counters>,
    cancel: CancellationToken,
    socket_closed: CancellationToken,
) {
    loop {
        let next = receiver.recv();
        let Some(datagram) = super::receive(next, &mut pipes, &cancel, &socket_closed).await else {
            break;
        };
        let message = match datagram {
            Ok(Ok(message)) => message,
            Ok(Err(why)) => {
                counters.note_malformed();
                tracing::debug!(%why, "dropping a datagram that is not RFC 48's");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "udp receiver stopped");
                break;
            }
        };
        counters.note_message();
        if !super::deliver(message, &mut pipes, &cancel, &socket_closed).await {
            break;
        }
    }
}
