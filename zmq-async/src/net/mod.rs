//! tcp, ipc and ws: listeners and connectors that reconnect (libzmq's `tcp_listener`,
//! `tcp_connecter`, and their ipc and ws twins), and the per-connection driver.
//!
//! Every accepted stream gets a task of its own running [`session::run`] (ZMTP over the
//! bytes, or for ws ZWS 2.0 over a WebSocket once its handshake is done) or, for STREAM
//! sockets, [`raw::run`] (no ZMTP); a connect's task runs one itself for each connection
//! it makes. A connect creates its peer's pipes at once (unless `immediate`), so
//! messages queue before the connection exists and survive reconnects; an accepted peer is
//! attached when its handshake completes (a raw peer at once).

mod byte_wire;
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
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use zmq_transports::ws::{self, WsOptions};
use zmq_transports::{Endpoint, Listener, Stream, StreamOptions, TcpOptions, WsEndpoint};

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

/// What carries a connection's ZMTP.
#[derive(Clone)]
enum Carrier<'e> {
    /// tcp or ipc: the bytes themselves.
    Bytes,
    /// ws or wss, accepted: TLS (wss) and the server's side of the WebSocket handshake first.
    WsServer(Option<ws::TlsAcceptor>),
    /// ws or wss, connected to this endpoint: TLS (wss, checking the certificate for the
    /// `wss_hostname` given, or the endpoint's host) and the client's side of the
    /// WebSocket handshake first.
    WsClient(&'e WsEndpoint, Option<(ws::TlsConnector, Option<String>)>),
}

/// A wss listener's TLS from the socket's options (`wss_cert_pem`, `wss_key_pem`).
fn wss_acceptor(o: &SocketOptions, endpoint: &Endpoint) -> Result<Option<ws::TlsAcceptor>> {
    if !matches!(endpoint, Endpoint::Wss(_)) {
        return Ok(None);
    }
    let (Some(cert), Some(key)) = (&o.wss_cert_pem, &o.wss_key_pem) else {
        return Err(Error::InvalidArgument(
            "a wss:// bind needs wss_cert_pem and wss_key_pem",
        ));
    };
    ws::tls_acceptor(&endpoint.to_string(), cert, key)
        .map(Some)
        .map_err(tls_config_error)
}

/// A wss connect's TLS from the socket's options (`wss_trust_pem`, `wss_trust_system`,
/// `wss_hostname`).
fn wss_connector(
    o: &SocketOptions,
    endpoint: &Endpoint,
) -> Result<Option<(ws::TlsConnector, Option<String>)>> {
    if !matches!(endpoint, Endpoint::Wss(_)) {
        return Ok(None);
    }
    let connector = ws::tls_connector(
        &endpoint.to_string(),
        o.wss_trust_pem.as_deref(),
        o.wss_trust_system,
    )
    .map_err(tls_config_error)?;
    Ok(Some((connector, o.wss_hostname.clone())))
}

fn tls_config_error(e: zmq_transports::Error) -> Error {
    Error::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        e.to_string(),
    ))
}

/// The driver of one connection: a ZMTP session, or for STREAM a raw one (no ZMTP).
fn serve<'a>(
    stream: Stream,
    carrier: Carrier<'a>,
    options: &SocketOptions,
    link: Link<'a>,
) -> std::result::Result<impl Future<Output = Outcome> + Send + 'a, zmtp_codec::Error> {
    let socket_type = link.handle.socket_type();
    if socket_type == SocketType::Stream {
        return Ok(Either::Left(raw::run(stream, link)));
    }
    if matches!(carrier, Carrier::Bytes) {
        let conn = convert::connection(socket_type, options)?;
        let counters = link.handle.shared.counters.clone();
        return Ok(Either::Right(Either::Left(session::run(
            byte_wire::ByteWire::new(stream, counters),
            conn,
            link,
        ))));
    }
    let config = convert::config(socket_type, options)?;
    let ws_options = ws_options(options);
    let handshake_ivl = options.handshake_ivl;
    Ok(Either::Right(Either::Right(serve_ws(
        stream,
        carrier,
        config,
        ws_options,
        handshake_ivl,
        link,
    ))))
}

/// The WebSocket options for these socket options: a message may be `maxmsgsize` plus the
/// ZWS flags byte.
fn ws_options(o: &SocketOptions) -> WsOptions {
    let max = o
        .maxmsgsize
        .and_then(|m| usize::try_from(m.saturating_add(1)).ok());
    WsOptions::default().max_message_size(max)
}

/// A ws or wss connection: TLS (wss) and the WebSocket handshake (within `handshake_ivl`,
/// which the ZWS handshake then has again), then the session over ZWS messages.
async fn serve_ws<'a>(
    stream: Stream,
    carrier: Carrier<'a>,
    config: zmtp_codec::Config,
    ws_options: WsOptions,
    handshake_ivl: Option<Duration>,
    link: Link<'a>,
) -> Outcome {
    let mechanism = config.mechanism.name();
    let peer = link.peer_address.as_str();
    let handshake = async {
        match carrier {
            Carrier::WsClient(endpoint, tls) => {
                let secure = tls.is_some();
                let transport = match tls {
                    None => ws::Either::Left(stream),
                    Some((connector, hostname)) => {
                        ws::tls_connect(&connector, endpoint, hostname.as_deref(), stream).await?
                    }
                };
                ws::client_handshake(transport, endpoint, secure, mechanism, &ws_options).await
            }
            Carrier::WsServer(tls) => {
                let transport = match tls {
                    None => ws::Either::Left(stream),
                    Some(acceptor) => ws::tls_accept(&acceptor, stream, peer).await?,
                };
                ws::server_handshake(transport, peer, mechanism, &ws_options).await
            }
            Carrier::Bytes => Err(zmq_transports::Error::WebSocket {
                endpoint: peer.to_owned(),
                reason: "not a ws connection".to_owned(),
            }),
        }
    };
    let shaken = match handshake_ivl {
        Some(ivl) => match tokio::time::timeout(ivl, handshake).await {
            Ok(r) => r.map_err(|e| Outcome::Io(std::io::Error::other(e.to_string()))),
            Err(_) => Err(Outcome::Protocol(zmtp_codec::Error::HandshakeTimeout)),
        },
        None => handshake
            .await
            .map_err(|e| Outcome::Io(std::io::Error::other(e.to_string()))),
    };
    let (wire, protocol) = match shaken {
        Ok(shaken) => shaken,
        Err(outcome) => {
            tracing::debug!(%outcome, "WebSocket handshake failed");
            link.report_end(&outcome, None);
            return outcome;
        }
    };
    match zmtp_codec::Connection::new_zws(config, protocol, convert::now()) {
        Ok(conn) => session::run(session::WsWire::new(wire), conn, link).await,
        Err(e) => {
            let outcome = Outcome::Protocol(e);
            link.report_end(&outcome, None);
            outcome
        }
    }
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

/// STREAM sockets speak raw tcp: not over a WebSocket (libzmq has no raw ws engine).
fn check_carrier(handle: &SocketHandle, endpoint: &Endpoint) -> Result<()> {
    if matches!(endpoint, Endpoint::Ws(_) | Endpoint::Wss(_))
        && handle.socket_type() == SocketType::Stream
    {
        return Err(Error::TransportUnsupported(format!(
            "{endpoint}: a STREAM socket speaks raw tcp, not ZWS"
        )));
    }
    Ok(())
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
    pipes: &mut PeerPipes,
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

/// Binds a tcp, ipc or ws endpoint and accepts peers until stopped or the socket closes.
pub(crate) async fn bind(
    handle: SocketHandle,
    endpoint: &Endpoint,
    socket_closed: CancellationToken,
) -> Result<EndpointTask> {
    convert::mechanism(&handle.options())?;
    check_carrier(&handle, endpoint)?;
    let tls = wss_acceptor(&handle.options(), endpoint)?;
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
    let carrier = match listener {
        Listener::Ws { .. } => Carrier::WsServer(tls),
        _ => Carrier::Bytes,
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
            carrier,
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
    carrier: Carrier<'static>,
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
                let carrier = carrier.clone();
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
                        let session = match serve(stream, carrier, &handle.options(), link) {
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
    check_carrier(&handle, &endpoint)?;
    let tls = wss_connector(&handle.options(), &endpoint)?;
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
            Remote { endpoint, tls },
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

/// Where a connect goes: the endpoint, and for wss its TLS.
struct Remote {
    endpoint: Endpoint,
    tls: Option<(ws::TlsConnector, Option<String>)>,
}

async fn connect_loop(
    handle: SocketHandle,
    remote: Remote,
    text: String,
    mut pipes: Option<PeerPipes>,
    alias: Option<Bytes>,
    cancel: CancellationToken,
    socket_closed: CancellationToken,
) {
    let Remote { endpoint, tls } = remote;
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
        if matches!(
            endpoint,
            Endpoint::Tcp(_) | Endpoint::Ws(_) | Endpoint::Wss(_)
        ) {
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
                let carrier = match &endpoint {
                    Endpoint::Ws(ws) | Endpoint::Wss(ws) => Carrier::WsClient(ws, tls.clone()),
                    _ => Carrier::Bytes,
                };
                let session = match serve(stream, carrier, &options, link) {
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
