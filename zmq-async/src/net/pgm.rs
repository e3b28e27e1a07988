//! `pgm://` and `epgm://` on PUB, XPUB, SUB and XSUB: libzmq's `pgm_sender` and
//! `pgm_receiver` sessions, over [`zmq_transports::multicast`].
//!
//! A multicast endpoint is one peer of the socket whatever the number of subscribers or
//! publishers on the group, and `bind` and `connect` do the same thing (as in libzmq):
//!
//! - On PUB/XPUB, a task pops what the socket sends to that peer and hands it to a
//!   [`PgmSender`]. The peer is subscribed to everything (libzmq's `subscribe_to_all`):
//!   receivers filter for themselves, and an XPUB's user hears of no subscription from it.
//!   When the socket closes, the queue is drained under `linger`, then the session keeps
//!   serving repairs for `linger` (forever: `recovery_ivl`; at most `recovery_ivl`, after
//!   which there is nothing left to repair) before it sends its FIN.
//! - On SUB/XSUB, a task pushes what a [`PgmReceiver`] yields into the peer's inbound pipe
//!   (bounded by `rcvhwm`: when it is full the task waits, and data waits in the
//!   receiver's window, whose repairs go on) and drops what the socket sends to the peer:
//!   subscriptions do not go on the wire, the socket filters what arrives.
//!
//! Losses the receiver could not repair are logged (a `tracing` warning) and counted in
//! [`MulticastStats`]; decoding resumes at the next message that starts after them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use zmq_transports::multicast::{Delivery, MalformedPackets, PgmOptions, PgmReceiver, PgmSender};
use zmq_transports::Endpoint;

use super::{transport_error, EndpointTask};
use crate::options::SocketOptions;
use crate::peer::{PeerInfo, PeerPipes, SocketHandle, SocketType};
use crate::{Error, Result};

/// Smallest `multicast_maxtpdu` the PGM driver takes: room for the IP, UDP and PGM headers
/// and some data.
const MIN_MAXTPDU: u16 = 128;
/// Deliveries the driver may hold for the socket beyond `rcvhwm` (its channel).
const RECEIVER_QUEUE: usize = 256;
/// Messages the driver may hold beyond the socket's `sndhwm` (its channel).
const SENDER_QUEUE: usize = 1000;

/// What a socket's multicast endpoints have received and lost, summed over its `pgm://`
/// and `epgm://` binds and connects ([`Socket::multicast_stats`](crate::Socket::multicast_stats)),
/// and a DISH's `udp://` binds (`messages` and `malformed_messages` only;
/// [`ThreadSafeSocket::multicast_stats`](crate::ThreadSafeSocket::multicast_stats)).
/// All zero on a publishing socket.
///
/// PGM repairs what it can; what it cannot (the data left the publisher's window, or the
/// publisher stopped answering) is reported here and in a `tracing` warning, and the
/// receiver goes on from the next message that starts after the gap. A message partly in
/// a lost packet is dropped whole, never delivered truncated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MulticastStats {
    /// Messages received and handed to the socket.
    pub messages: u64,
    /// Unrecoverable gaps: each cost one or more messages.
    pub losses: u64,
    /// PGM packets (sequence numbers) in those gaps.
    pub packets_lost: u64,
    /// Messages dropped because a publisher's data was not framed as libzmq frames it (or a
    /// frame was over `maxmsgsize`); for `udp://`, datagrams that were not RFC 48's (empty,
    /// or a group past the datagram's end).
    pub malformed_messages: u64,
    /// Datagrams dropped because they were not PGM packets (bad checksum, truncated, …).
    pub malformed_packets: u64,
    /// Publishers that ended their session (or fell silent for 5 minutes).
    pub sources_ended: u64,
}

impl std::ops::AddAssign for MulticastStats {
    fn add_assign(&mut self, o: Self) {
        self.messages += o.messages;
        self.losses += o.losses;
        self.packets_lost += o.packets_lost;
        self.malformed_messages += o.malformed_messages;
        self.malformed_packets += o.malformed_packets;
        self.sources_ended += o.sources_ended;
    }
}

/// The live counters behind one endpoint's [`MulticastStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    messages: AtomicU64,
    losses: AtomicU64,
    packets_lost: AtomicU64,
    malformed_messages: AtomicU64,
    sources_ended: AtomicU64,
    malformed_packets: MalformedPackets,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> MulticastStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MulticastStats {
            messages: get(&self.messages),
            losses: get(&self.losses),
            packets_lost: get(&self.packets_lost),
            malformed_messages: get(&self.malformed_messages),
            malformed_packets: self.malformed_packets.get(),
            sources_ended: get(&self.sources_ended),
        }
    }

    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// One message delivered (`udp://`).
    pub(crate) fn note_message(&self) {
        Counters::add(&self.messages, 1);
    }

    /// One datagram dropped as malformed (`udp://`).
    pub(crate) fn note_malformed(&self) {
        Counters::add(&self.malformed_messages, 1);
    }
}

/// libzmq's `check_protocol`: multicast carries one direction, so only PUB, XPUB, SUB and
/// XSUB take it (`ENOCOMPATPROTO`).
pub(crate) fn check_socket_type(socket_type: SocketType, endpoint: &str) -> Result<()> {
    match socket_type {
        SocketType::Pub | SocketType::XPub | SocketType::Sub | SocketType::XSub => Ok(()),
        other => Err(Error::IncompatibleTransport(format!(
            "{endpoint}: {other} sockets cannot use multicast; only PUB, XPUB, SUB and XSUB can"
        ))),
    }
}

/// The multicast options' ranges (part of [`SocketOptions::validate`]).
pub(crate) fn check_options(o: &SocketOptions) -> Result<()> {
    if o.rate == 0 {
        return Err(Error::InvalidArgument("rate must be at least 1 kbit/s"));
    }
    if o.recovery_ivl.is_zero() {
        return Err(Error::InvalidArgument("recovery_ivl must not be zero"));
    }
    if !(1..=255).contains(&o.multicast_hops) {
        return Err(Error::InvalidArgument("multicast_hops must be 1..=255"));
    }
    if o.multicast_maxtpdu < MIN_MAXTPDU {
        return Err(Error::InvalidArgument(
            "multicast_maxtpdu must be at least 128 bytes",
        ));
    }
    Ok(())
}

fn pgm_options(o: &SocketOptions) -> PgmOptions {
    let mut p = PgmOptions::default();
    p.rate_kbit = o.rate;
    p.recovery_ivl = o.recovery_ivl;
    p.multicast_hops = o.multicast_hops;
    p.max_tpdu = o.multicast_maxtpdu;
    p.max_msg_size = o.maxmsgsize;
    // The socket's pipe holds `sndhwm`; the driver's queue only smooths the hand-over.
    p.send_hwm = match o.sndhwm {
        0 => SENDER_QUEUE,
        hwm => hwm.min(SENDER_QUEUE),
    };
    p.recv_hwm = RECEIVER_QUEUE;
    p
}

/// How long a closing publisher serves repairs after its queue is sent: `linger`, at most
/// `recovery_ivl` (after which nothing is left to repair); forever means `recovery_ivl`.
fn repair_linger(o: &SocketOptions) -> Duration {
    o.linger.map_or(o.recovery_ivl, |l| l.min(o.recovery_ivl))
}

/// Opens a multicast endpoint (bind and connect alike) and starts its task.
pub(crate) async fn open(
    handle: SocketHandle,
    endpoint: &Endpoint,
    socket_closed: CancellationToken,
) -> Result<EndpointTask> {
    let text = endpoint.to_string();
    check_socket_type(handle.socket_type(), &text)?;
    let options = handle.options();
    let pgm = pgm_options(&options);
    let cancel = CancellationToken::new();
    let span = tracing::debug_span!("zmq.pgm", endpoint = %text);
    let counters = if matches!(handle.socket_type(), SocketType::Pub | SocketType::XPub) {
        let sender = PgmSender::open(endpoint, &pgm)
            .await
            .map_err(transport_error)?;
        let mut info = PeerInfo::new(SocketType::Sub);
        info.subscribe_all = true;
        let pipes = handle.attach(Some(info), None)?;
        let linger = repair_linger(&options);
        handle.spawn(send_loop(sender, pipes, linger, cancel.clone()).instrument(span));
        Arc::new(Counters::default())
    } else {
        let receiver = PgmReceiver::open(endpoint, &pgm)
            .await
            .map_err(transport_error)?;
        let counters = Arc::new(Counters {
            malformed_packets: receiver.malformed_packets(),
            ..Counters::default()
        });
        let pipes = handle.attach(Some(PeerInfo::new(SocketType::Pub)), None)?;
        let task = recv_loop(
            receiver,
            pipes,
            counters.clone(),
            cancel.clone(),
            socket_closed,
        );
        handle.spawn(task.instrument(span));
        counters
    };
    Ok(EndpointTask::multicast(text, cancel, counters))
}

/// Moves what the socket sends into the session until the socket closes the peer (its
/// queue drained or discarded under `linger`) or the endpoint is dropped, then serves
/// repairs for `linger` and ends the session.
async fn send_loop(
    sender: PgmSender,
    mut pipes: PeerPipes,
    linger: Duration,
    cancel: CancellationToken,
) {
    while let Some(message) = super::next_to_send(&mut pipes, &cancel).await {
        let sent = tokio::select! {
            r = sender.send(message) => r,
            _ = cancel.cancelled() => break,
        };
        if let Err(e) = sent {
            tracing::warn!(error = %e, "PGM session stopped");
            break;
        }
    }
    drop(pipes);
    if let Err(e) = sender.close(linger).await {
        tracing::warn!(error = %e, "PGM session failed");
    }
    tracing::debug!("PGM session closed");
}

/// Moves what the session receives into the socket's inbound pipe, waiting while it is at
/// `rcvhwm`; drops what the socket sends (its subscriptions: filtering is local).
async fn recv_loop(
    mut receiver: PgmReceiver,
    mut pipes: PeerPipes,
    counters: Arc<Counters>,
    cancel: CancellationToken,
    socket_closed: CancellationToken,
) {
    loop {
        let next = receiver.recv();
        let Some(delivery) = super::receive(next, &mut pipes, &cancel, &socket_closed).await else {
            break;
        };
        match delivery {
            Ok(Delivery::Message { message, .. }) => {
                Counters::add(&counters.messages, 1);
                if !super::deliver(message, &mut pipes, &cancel, &socket_closed).await {
                    break;
                }
            }
            Ok(Delivery::Loss {
                source,
                first,
                count,
            }) => {
                Counters::add(&counters.losses, 1);
                Counters::add(&counters.packets_lost, u64::from(count));
                tracing::warn!(
                    ?source,
                    first,
                    count,
                    "PGM data lost beyond repair; going on from the next message"
                );
            }
            Ok(Delivery::Malformed { source, error }) => {
                Counters::add(&counters.malformed_messages, 1);
                tracing::warn!(?source, %error, "PGM message not in libzmq's framing, dropped");
            }
            Ok(Delivery::SourceEnded { source }) => {
                Counters::add(&counters.sources_ended, 1);
                tracing::debug!(?source, "PGM publisher ended its session");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "PGM receiver stopped");
                break;
            }
        }
    }
}
