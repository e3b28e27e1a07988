//! tcp and ipc: listeners and connectors that reconnect (libzmq's `tcp_listener`,
//! `tcp_connecter`, and their ipc twins), and the per-connection driver.
//!
//! Every accepted stream gets a task of its own running [`session::run`] (ZMTP) or, for
//! STREAM sockets, [`raw::run`] (no ZMTP); a connect's task runs one itself for each
//! connection it makes. A connect creates its peer's pipes at once (unless `immediate`), so
//! messages queue before the connection exists and survive reconnects; an accepted peer is
//! attached when its handshake completes (a raw peer at once).

mod convert;
mod pgm;
mod raw;
mod session;
mod udp;
mod zap;

use std::future::Future;

pub use pgm::MulticastStats;
pub(crate) use pgm::{
    check_options as check_multicast_options, check_socket_type as check_multicast,
};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;
pub(crate) use udp::check_socket_type as check_udp;

use bytes::Bytes;
use futures::future::Either;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use zmq_transports::{Endpoint, Listener, StreamOptions, TcpOptions};

use crate::monitor::EventKind;
use crate::options::{ReconnectStop, SocketOptions};
use crate::peer::{PeerId, PeerPipes, SocketHandle, SocketType};
use crate::{Error, Result};

use session::{Link, Outcome};

/// A listener shared between its socket and its accept loop, so that unbind and drop
/// close it at once rather than when the loop next wakes.
type SharedListener = Arc<Mutex<Option<Listener>>>;

/// A running bind or connect, stopped by [`EndpointTask::stop`] (unbind/disconnect).
#[derive(Debug)]
pub(crate) struct EndpointTask {
    /// The endpoint as resolved (`bind` on port 0 gives the real port).
    pub(crate) endpoint: String,
    /// The peer a connect attached at once (not with `immediate`).
    pub(crate) peer: Option<PeerId>,
    cancel: CancellationToken,
    listener: Option<SharedListener>,
    /// A `pgm://`/`epgm://` endpoint's counters.
    multicast: Option<Arc<pgm::Counters>>,
}

impl EndpointTask {
    fn multicast(
        endpoint: String,
        cancel: CancellationToken,
        counters: Arc<pgm::Counters>,
    ) -> Self {
        EndpointTask {
            endpoint,
            peer: None,
            cancel,
            listener: None,
            multicast: Some(counters),
        }
    }

    /// What a multicast endpoint received and lost (`None` for tcp and ipc).
    pub(crate) fn multicast_stats(&self) -> Option<MulticastStats> {
        self.multicast.as_ref().map(|c| c.snapshot())
    }

    /// Stops the listener or connector and every connection it made. A listener's port or
    /// ipc file is released before this returns.
    pub(crate) fn stop(&self) {
        self.cancel.cancel();
        self.release_listener();
    }

    /// Closes the listener now (its accept loop finds the slot empty and ends).
    fn release_listener(&self) {
        if let Some(listener) = &self.listener {
            drop(lock(listener).take());
        }
    }
}

impl Drop for EndpointTask {
    fn drop(&mut self) {
        self.release_listener();
    }
}

fn lock(listener: &SharedListener) -> std::sync::MutexGuard<'_, Option<Listener>> {
    listener.lock().unwrap_or_else(|e| e.into_inner())
}

fn stream_options(o: &SocketOptions) -> StreamOptions {
    let mut tcp = TcpOptions::default();
    tcp.ipv6 = o.ipv6;
    tcp.keepalive = o.tcp_keepalive;
    tcp.keepalive_idle = o.tcp_keepalive_idle;
    tcp.keepalive_cnt = o.tcp_keepalive_cnt;
    tcp.keepalive_intvl = o.tcp_keepalive_intvl;
    if o.backlog > 0 {
        tcp.backlog = o.backlog;
    }
    tcp.tos = o.tos;
    tcp.bindtodevice = o.bindtodevice.clone();
    tcp.sndbuf = o.sndbuf;
    tcp.rcvbuf = o.rcvbuf;
    tcp.connect_timeout = o.connect_timeout;
    let mut s = StreamOptions::default();
    s.tcp = tcp;
    s
}

/// The OS error number behind `e`, 0 if none (as libzmq's monitor values).
fn errno(e: &Error) -> i32 {
    match e {
        Error::Io(e) => e.raw_os_error().unwrap_or(0),
        Error::AddrInUse(_) => 98, // EADDRINUSE (Linux)
        _ => 0,
    }
}

/// Nothing listens at the endpoint (`ECONNREFUSED`).
fn refused(e: &zmq_transports::Error) -> bool {
    matches!(e, zmq_transports::Error::Io { source, .. }
        if source.kind() == std::io::ErrorKind::ConnectionRefused)
}

fn transport_error(e: zmq_transports::Error) -> Error {
    use zmq_transports::Error as T;
    match e {
        T::AddrInUse { .. } => Error::AddrInUse(e.to_string()),
        T::Parse(_) | T::WildcardConnect { .. } | T::BindToHostName { .. } => {
            Error::InvalidEndpoint(e.to_string())
        }
        T::Unsupported { .. } => Error::TransportUnsupported(e.to_string()),
        T::Io { source, .. } => Error::Io(source),
        T::NoInterface { .. } => Error::InvalidEndpoint(e.to_string()),
        T::RawSocketDenied { .. } => Error::Io(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            e.to_string(),
        )),
        other => Error::Io(std::io::Error::other(other.to_string())),
    }
}

/// The driver of one connection: a ZMTP session, or for STREAM a raw one (no ZMTP).
fn serve<'a, S>(
    stream: S,
    options: &SocketOptions,
    link: Link<'a>,
) -> std::result::Result<impl Future<Output = Outcome> + Send + 'a, zmtp_codec::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'a,
{
    let socket_type = link.handle.socket_type();
    if socket_type == SocketType::Stream {
        return Ok(Either::Left(raw::run(stream, link)));
    }
    let conn = convert::connection(socket_type, options)?;
    Ok(Either::Right(session::run(stream, conn, link)))
}

/// Opens a `pgm://` or `epgm://` endpoint on a PUB, XPUB, SUB or XSUB (bind and connect
/// alike, as in libzmq).
pub(crate) async fn multicast(
    handle: SocketHandle,
    endpoint: &Endpoint,
    socket_closed: CancellationToken,
) -> Result<EndpointTask> {
    pgm::open(handle, endpoint, socket_closed).await
}

/// For a send-only datagram session (a PUB's multicast, a RADIO's udp): the next message
/// the socket sends the session; `None` once the socket lets the peer go or the endpoint is
/// dropped.
pub(crate) async fn next_to_send(
    pipes: &mut PeerPipes,
    cancel: &CancellationToken,
) -> Option<zmtp_codec::Message> {
    tokio::select! {
        m = pipes.outbound.pop() => m,
        _ = cancel.cancelled() => None,
    }
}

/// For a receive-only datagram session (a SUB's multicast, a DISH's udp): waits for
/// `received`, dropping meanwhile what the socket sends the session (subscriptions, JOINs:
/// the socket filters what arrives). `None` once the socket lets the peer go, the endpoint
/// is dropped or the socket closes.
pub(crate) async fn receive<T>(
    received: impl Future<Output = T>,
    pipes: &mut PeerPipes,
    cancel: &CancellationToken,
    socket_closed: &CancellationToken,
) -> Option<T> {
    tokio::pin!(received);
    loop {
        tokio::select! {
            r = &mut received => return Some(r),
            // Dropped: the socket filters what arrives.
            m = pipes.outbound.pop() => drop(m?),
            _ = cancel.cancelled() => return None,
            _ = socket_closed.cancelled() => return None,
        }
    }
}

/// Pushes what a datagram session received into the socket's inbound pipe, waiting while it
/// is at `rcvhwm`; false once the pipe closes, the endpoint is dropped or the socket closes.
pub(crate) async fn deliver(
    message: zmtp_codec::Message,
    pipes: &PeerPipes,
    cancel: &CancellationToken,
    socket_closed: &CancellationToken,
) -> bool {
    tokio::select! {
        r = pipes.inbound.push(message) => r.is_ok(),
        _ = cancel.cancelled() => false,
        _ = socket_closed.cancelled() => false,
    }
}

/// Opens a `udp://` endpoint: a DISH's bind (`bind`), a RADIO's connect.
pub(crate) async fn udp(
    handle: SocketHandle,
    endpoint: &Endpoint,
    bind: bool,
    socket_closed: CancellationToken,
) -> Result<EndpointTask> {
    udp::open(handle, endpoint, bind, socket_closed).await
}

/// Binds a tcp or ipc endpoint and accepts peers until stopped or the socket closes.
pub(crate) async fn bind(
    handle: SocketHandle,
    endpoint: &Endpoint,
    socket_closed: CancellationToken,
) -> Result<EndpointTask> {
    convert::mechanism(&handle.options())?;
    let monitors = &handle.shared.monitors;
    let listener = match zmq_transports::bind(endpoint, &stream_options(&handle.options())).await {
        Ok(listener) => listener,
        Err(e) => {
            let e = transport_error(e);
            let kind = || EventKind::BindFailed {
                errno: errno(&e),
                reason: e.to_string(),
            };
            monitors.raise(kind, &endpoint.to_string(), None, None);
            return Err(e);
        }
    };
    let resolved = listener.local_endpoint().to_string();
    monitors.raise(|| EventKind::Listening, &resolved, None, None);
    let cancel = CancellationToken::new();
    let listener: SharedListener = Arc::new(Mutex::new(Some(listener)));
    let span =
        tracing::debug_span!(parent: &handle.shared.span.span, "zmq.listen", endpoint = %resolved);
    handle.clone().spawn(
        accept_loop(
            handle,
            listener.clone(),
            resolved.as_str().into(),
            cancel.clone(),
            socket_closed,
        )
        .instrument(span),
    );
    Ok(EndpointTask {
        endpoint: resolved,
        peer: None,
        cancel,
        listener: Some(listener),
        multicast: None,
    })
}

async fn accept_loop(
    handle: SocketHandle,
    listener: SharedListener,
    endpoint: Arc<str>,
    cancel: CancellationToken,
    socket_closed: CancellationToken,
) {
    let accept = || {
        std::future::poll_fn(|cx| match lock(&listener).as_ref() {
            None => Poll::Ready(None),
            Some(l) => l.poll_accept(cx).map(Some),
        })
    };
    let backlog = usize::try_from(handle.options().backlog).unwrap_or(usize::MAX);
    loop {
        // Peers that connect and leave again each leave their pipes (and what they sent)
        // in the socket's mailbox until the socket next runs: an idle socket takes no
        // more than `backlog` of them; the rest wait in the kernel's listen queue.
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = socket_closed.cancelled() => return,
            _ = handle.shared.room_for_peers(backlog) => {}
        }
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            _ = socket_closed.cancelled() => return,
            r = accept() => match r {
                Some(r) => r,
                None => return,
            },
        };
        match accepted {
            Ok((stream, addr)) => {
                let span = tracing::debug_span!("zmq.peer", peer = %addr);
                let zap_address = zap::address(&stream);
                let peer_address = addr.to_string();
                handle.shared.monitors.raise(
                    || EventKind::Accepted,
                    &endpoint,
                    Some(&peer_address),
                    None,
                );
                let handle = handle.clone();
                let cancel = cancel.clone();
                let endpoint = endpoint.clone();
                // The task keeps only what the connection needs (not the peer's address
                // nor a copy of the options): every stalled handshake costs its size.
                handle.clone().spawn(
                    async move {
                        let mut pipes: Option<PeerPipes> = None;
                        let mut handshaken = false;
                        let link = Link {
                            handle: &handle,
                            pipes: &mut pipes,
                            alias: None,
                            zap_address,
                            endpoint: &endpoint,
                            peer_address,
                            accepted: true,
                            handshaken: &mut handshaken,
                        };
                        let session = match serve(stream, &handle.options(), link) {
                            Ok(s) => s,
                            Err(e) => {
                                tracing::warn!(error = %e, "cannot start connection");
                                return;
                            }
                        };
                        tokio::select! {
                            outcome = session => {
                                tracing::debug!(%outcome, "connection ended");
                            }
                            _ = cancel.cancelled() => tracing::debug!("unbound"),
                        }
                        // Dropping the pipes detaches the peer.
                    }
                    .instrument(span),
                );
            }
            Err(e) => {
                // Per-connection failures (EMFILE, ECONNABORTED): keep the listener.
                tracing::warn!(error = %e, "accept failed");
                let kind = || EventKind::AcceptFailed {
                    errno: e.raw_os_error().unwrap_or(0),
                    reason: e.to_string(),
                };
                handle.shared.monitors.raise(kind, &endpoint, None, None);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Connects to a tcp or ipc endpoint, reconnecting with `reconnect_ivl` (doubling up to
/// `reconnect_ivl_max`) until stopped or the socket closes.
///
/// `alias` is the ROUTER's name for this peer (`connect_routing_id`).
pub(crate) fn connect(
    handle: SocketHandle,
    endpoint: Endpoint,
    alias: Option<Bytes>,
    socket_closed: CancellationToken,
) -> Result<EndpointTask> {
    convert::mechanism(&handle.options())?;
    let pipes = if handle.options().immediate {
        None
    } else {
        Some(handle.attach(None, alias.clone())?)
    };
    let peer = pipes.as_ref().map(|p| p.link.id());
    let cancel = CancellationToken::new();
    let text = endpoint.to_string();
    let span =
        tracing::debug_span!(parent: &handle.shared.span.span, "zmq.connect", endpoint = %text);
    handle.clone().spawn(
        connect_loop(
            handle,
            endpoint,
            text.clone(),
            pipes,
            alias,
            cancel.clone(),
            socket_closed,
        )
        .instrument(span),
    );
    Ok(EndpointTask {
        endpoint: text,
        peer,
        cancel,
        listener: None,
        multicast: None,
    })
}

async fn connect_loop(
    handle: SocketHandle,
    endpoint: Endpoint,
    text: String,
    mut pipes: Option<PeerPipes>,
    alias: Option<Bytes>,
    cancel: CancellationToken,
    socket_closed: CancellationToken,
) {
    let options = handle.options();
    let stream_opts = stream_options(&options);
    let base = options.reconnect_ivl;
    let mut ivl = base.unwrap_or_default();
    // After the socket is dropped, keep connecting while its queue for this peer still
    // holds messages: linger delivers them (and its timer discards them, which ends this).
    let lingering =
        |pipes: &Option<PeerPipes>| pipes.as_ref().is_some_and(|p| !p.outbound.is_finished());
    let monitors = &handle.shared.monitors;
    loop {
        if socket_closed.is_cancelled() && !lingering(&pipes) {
            break;
        }
        // libzmq's tcp connect is non-blocking and in progress at once (CONNECT_DELAYED);
        // its ipc connect completes or fails at once.
        if matches!(endpoint, Endpoint::Tcp(_)) {
            monitors.raise(|| EventKind::ConnectDelayed, &text, None, None);
        }
        let connected = tokio::select! {
            _ = cancel.cancelled() => break,
            r = zmq_transports::connect(&endpoint, &stream_opts) => r,
        };
        match connected {
            Ok(stream) => {
                ivl = base.unwrap_or_default();
                let peer_address = stream
                    .peer_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default();
                monitors.raise(|| EventKind::Connected, &text, Some(&peer_address), None);
                // One span per connection, as the accepted ones have.
                let span = tracing::debug_span!("zmq.peer", peer = %peer_address);
                let zap_address = zap::address(&stream);
                let mut handshaken = false;
                let link = Link {
                    handle: &handle,
                    pipes: &mut pipes,
                    alias: alias.clone(),
                    zap_address,
                    endpoint: &text,
                    peer_address,
                    accepted: false,
                    handshaken: &mut handshaken,
                };
                let session = match serve(stream, &options, link) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot start connection");
                        break;
                    }
                };
                let outcome = tokio::select! {
                    o = session.instrument(span.clone()) => o,
                    _ = cancel.cancelled() => break,
                };
                span.in_scope(|| tracing::debug!(%outcome, "connection ended"));
                if matches!(outcome, Outcome::SocketClosed) {
                    break;
                }
                if !handshaken
                    && options
                        .reconnect_stop
                        .contains(ReconnectStop::HANDSHAKE_FAILED)
                {
                    tracing::debug!("handshake failed: not reconnecting (reconnect_stop)");
                    break;
                }
                if options.immediate {
                    pipes = None;
                } else if let Some(p) = &mut pipes {
                    p.disconnected();
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "connect failed");
                monitors.raise(|| EventKind::Closed, &text, None, None);
                if refused(&e) && options.reconnect_stop.contains(ReconnectStop::CONN_REFUSED) {
                    tracing::debug!("refused: not reconnecting (reconnect_stop)");
                    break;
                }
            }
        }
        let Some(base) = base else {
            break; // reconnect disabled
        };
        handle.shared.counters.reconnect();
        monitors.raise(
            || EventKind::ConnectRetried { interval: ivl },
            &text,
            None,
            None,
        );
        tokio::select! {
            _ = tokio::time::sleep(ivl) => {}
            _ = cancel.cancelled() => break,
            // Woken early by the socket's drop, to re-check whether anything lingers.
            _ = socket_closed.cancelled(), if !socket_closed.is_cancelled() => {}
        }
        if let Some(max) = options.reconnect_ivl_max.filter(|m| *m > base) {
            ivl = (ivl * 2).min(max);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tcp_options_reach_the_transport() {
        let mut o = SocketOptions::default();
        assert_eq!(stream_options(&o).tcp, TcpOptions::default());
        o.tos = 0x28;
        o.bindtodevice = Some("lo".into());
        o.sndbuf = Some(1 << 16);
        o.rcvbuf = Some(1 << 17);
        o.connect_timeout = Some(Duration::from_millis(250));
        o.backlog = 7;
        let tcp = stream_options(&o).tcp;
        assert_eq!(tcp.tos, 0x28);
        assert_eq!(tcp.bindtodevice.as_deref(), Some("lo"));
        assert_eq!((tcp.sndbuf, tcp.rcvbuf), (Some(1 << 16), Some(1 << 17)));
        assert_eq!(tcp.connect_timeout, Some(Duration::from_millis(250)));
        assert_eq!(tcp.backlog, 7);
    }
}
