//! Our socket monitor against libzmq's: the same scenario, once with a libzmq socket under
//! `zmq_socket_monitor` and once with ours under `Socket::monitor`, must raise the same
//! sequence of event kinds (timings and file descriptors aside). The peers are libzmq
//! sockets or raw tcp in both runs. Every read waits for an event, never for time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use futures::StreamExt;
use zmq_async::monitor::protocol_error;
use zmq_async::zap::{self, StaticAuthenticator};
use zmq_async::{
    DealerSocket, EventKind, Message, Monitor, MonitorEvent, PairSocket, RouterSocket,
    SocketOptions,
};
use zmq_tests::{bind_loopback, libzmq_socket, LibzmqZap, IO_TIMEOUT};

/// An event as both sides report it: the kind's libzmq name, and its value where it is
/// not a file descriptor nor a random interval.
type Seen = (&'static str, Option<u32>);

fn name_of(number: u16) -> &'static str {
    match number {
        0x0001 => "CONNECTED",
        0x0002 => "CONNECT_DELAYED",
        0x0004 => "CONNECT_RETRIED",
        0x0008 => "LISTENING",
        0x0010 => "BIND_FAILED",
        0x0020 => "ACCEPTED",
        0x0040 => "ACCEPT_FAILED",
        0x0080 => "CLOSED",
        0x0100 => "CLOSE_FAILED",
        0x0200 => "DISCONNECTED",
        0x0400 => "MONITOR_STOPPED",
        0x0800 => "HANDSHAKE_FAILED_NO_DETAIL",
        0x1000 => "HANDSHAKE_SUCCEEDED",
        0x2000 => "HANDSHAKE_FAILED_PROTOCOL",
        0x4000 => "HANDSHAKE_FAILED_AUTH",
        _ => "UNKNOWN",
    }
}

/// The value compared: the protocol error code and the ZAP status code, which both sides
/// must agree on; the rest (descriptors, errno, libzmq's randomised intervals) are not.
fn compared_value(name: &str, value: u32) -> Option<u32> {
    matches!(name, "HANDSHAKE_FAILED_PROTOCOL" | "HANDSHAKE_FAILED_AUTH").then_some(value)
}

/// Drops complete refused attempts (CONNECT_DELAYED, CLOSED, CONNECT_RETRIED): how many a
/// reconnect takes before the peer is back depends on timing.
fn without_refusals(seen: Vec<Seen>) -> Vec<Seen> {
    let mut out: Vec<Seen> = Vec::new();
    for s in seen {
        out.push(s);
        let n = out.len();
        if n >= 3
            && out[n - 3].0 == "CONNECT_DELAYED"
            && out[n - 2].0 == "CLOSED"
            && out[n - 1].0 == "CONNECT_RETRIED"
        {
            out.truncate(n - 3);
        }
    }
    out
}

// ---- libzmq's monitor ------------------------------------------------------------------

struct LibzmqMonitor {
    pair: zmq::Socket,
}

impl LibzmqMonitor {
    fn start(ctx: &zmq::Context, socket: &zmq::Socket, name: &str) -> Self {
        let endpoint = format!("inproc://monitor-{name}");
        socket
            .monitor(&endpoint, 0xFFFF)
            .expect("zmq_socket_monitor");
        let pair = libzmq_socket(ctx, zmq::PAIR);
        pair.connect(&endpoint).expect("connect the monitor PAIR");
        LibzmqMonitor { pair }
    }

    /// The next event's raw frames.
    fn next_frames(&self) -> Vec<Vec<u8>> {
        let frames = self.pair.recv_multipart(0).expect("a libzmq monitor event");
        assert_eq!(frames.len(), 2, "libzmq's events have two frames");
        frames
    }

    /// Events up to and including the first `last`.
    fn until(&self, last: &str) -> Vec<Seen> {
        let mut seen = Vec::new();
        loop {
            let frames = self.next_frames();
            let head = &frames[0];
            let number = u16::from_le_bytes([head[0], head[1]]);
            let value = u32::from_le_bytes([head[2], head[3], head[4], head[5]]);
            let name = name_of(number);
            seen.push((name, compared_value(name, value)));
            if name == last {
                return seen;
            }
        }
    }
}

// ---- ours ------------------------------------------------------------------------------

/// Events up to and including the first `last`, with the events themselves.
async fn until(monitor: &mut Monitor, last: &str) -> (Vec<Seen>, Vec<MonitorEvent>) {
    let mut seen = Vec::new();
    let mut events = Vec::new();
    loop {
        let Ok(event) = tokio::time::timeout(IO_TIMEOUT, monitor.next()).await else {
            panic!("no {last} in time; saw {seen:?}");
        };
        let event = event.expect("the monitor goes on");
        let name = event.kind.name();
        seen.push((name, compared_value(name, event.kind.value())));
        events.push(event);
        if name == last {
            return (seen, events);
        }
    }
}

fn dead_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    listener.local_addr().expect("its address")
}

fn names(seen: &[Seen]) -> Vec<&'static str> {
    seen.iter().map(|s| s.0).collect()
}

// ---- scenarios -------------------------------------------------------------------------

/// A connect to a live peer; then the peer goes and comes back at the same address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_then_peer_gone_then_reconnect_matches_libzmq() {
    let ctx = zmq::Context::new();

    // libzmq
    let router = libzmq_socket(&ctx, zmq::ROUTER);
    let addr = bind_loopback(&router);
    let dealer = libzmq_socket(&ctx, zmq::DEALER);
    let mon = LibzmqMonitor::start(&ctx, &dealer, "connect");
    dealer.connect(&format!("tcp://{addr}")).unwrap();
    let libzmq_connect = mon.until("HANDSHAKE_SUCCEEDED");
    drop(router);
    let libzmq_gone = mon.until("CONNECT_RETRIED");
    let router = libzmq_socket(&ctx, zmq::ROUTER);
    router.bind(&format!("tcp://{addr}")).unwrap();
    let libzmq_back = without_refusals(mon.until("HANDSHAKE_SUCCEEDED"));
    drop((router, dealer, mon));

    // ours, against the same kind of peer (in a context of its own: libzmq's closing
    // sockets above may still hold the first one's I/O thread)
    let ctx = zmq::Context::new();
    let router = libzmq_socket(&ctx, zmq::ROUTER);
    router.set_identity(b"server").unwrap();
    let addr = bind_loopback(&router);
    let mut dealer = DealerSocket::new();
    dealer
        .set_reconnect_ivl(Some(Duration::from_millis(20)))
        .unwrap();
    let mut monitor = dealer.monitor();
    let endpoint = format!("tcp://{addr}");
    dealer.connect(&endpoint).await.unwrap();
    let (ours_connect, events) = until(&mut monitor, "HANDSHAKE_SUCCEEDED").await;
    let done = events.last().unwrap();
    assert_eq!(done.endpoint, endpoint);
    assert_eq!(done.peer_address.as_deref(), Some(endpoint.as_str()));
    assert_eq!(done.routing_id.as_deref(), Some(&b"server"[..]));
    drop(router);
    let (ours_gone, events) = until(&mut monitor, "CONNECT_RETRIED").await;
    assert_eq!(
        events[0].routing_id.as_deref(),
        Some(&b"server"[..]),
        "DISCONNECTED names the peer that went"
    );
    let router = libzmq_socket(&ctx, zmq::ROUTER);
    router.bind(&endpoint).unwrap();
    let ours_back = without_refusals(until(&mut monitor, "HANDSHAKE_SUCCEEDED").await.0);

    assert_eq!(
        names(&libzmq_connect),
        ["CONNECT_DELAYED", "CONNECTED", "HANDSHAKE_SUCCEEDED"]
    );
    assert_eq!(ours_connect, libzmq_connect);
    assert_eq!(names(&libzmq_gone), ["DISCONNECTED", "CONNECT_RETRIED"]);
    assert_eq!(ours_gone, libzmq_gone);
    assert_eq!(ours_back, libzmq_back);
    assert!(dealer.stats().reconnects >= 1);
}

/// A connect refused (nobody listens), retried until a peer binds there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_then_retried_matches_libzmq() {
    let ctx = zmq::Context::new();

    let addr = dead_port();
    let dealer = libzmq_socket(&ctx, zmq::DEALER);
    dealer.set_reconnect_ivl(20).unwrap();
    let mon = LibzmqMonitor::start(&ctx, &dealer, "refused");
    dealer.connect(&format!("tcp://{addr}")).unwrap();
    let mut libzmq_refused = mon.until("CONNECT_RETRIED");
    libzmq_refused.extend(mon.until("CONNECT_RETRIED"));
    let router = libzmq_socket(&ctx, zmq::ROUTER);
    router.bind(&format!("tcp://{addr}")).unwrap();
    let libzmq_up = without_refusals(mon.until("HANDSHAKE_SUCCEEDED"));
    drop((router, dealer, mon));

    let ctx = zmq::Context::new();
    let addr = dead_port();
    let mut dealer = DealerSocket::new();
    dealer
        .set_reconnect_ivl(Some(Duration::from_millis(20)))
        .unwrap();
    let mut monitor = dealer.monitor();
    dealer.connect(&format!("tcp://{addr}")).await.unwrap();
    let (mut ours_refused, events) = until(&mut monitor, "CONNECT_RETRIED").await;
    assert_eq!(
        events.last().unwrap().kind,
        EventKind::ConnectRetried {
            interval: Duration::from_millis(20)
        }
    );
    ours_refused.extend(until(&mut monitor, "CONNECT_RETRIED").await.0);
    let router = libzmq_socket(&ctx, zmq::ROUTER);
    router.bind(&format!("tcp://{addr}")).unwrap();
    let ours_up = without_refusals(until(&mut monitor, "HANDSHAKE_SUCCEEDED").await.0);

    assert_eq!(
        names(&libzmq_refused),
        [
            "CONNECT_DELAYED",
            "CLOSED",
            "CONNECT_RETRIED",
            "CONNECT_DELAYED",
            "CLOSED",
            "CONNECT_RETRIED"
        ]
    );
    assert_eq!(ours_refused, libzmq_refused);
    assert_eq!(ours_up, libzmq_up);
    assert!(dealer.stats().reconnects >= 2);
    drop(router);
}

/// A bound socket: a peer connects, completes its handshake, and goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_peer_gone_matches_libzmq() {
    let ctx = zmq::Context::new();

    let router = libzmq_socket(&ctx, zmq::ROUTER);
    let mon = LibzmqMonitor::start(&ctx, &router, "accepted");
    let addr = bind_loopback(&router);
    let dealer = libzmq_socket(&ctx, zmq::DEALER);
    dealer.connect(&format!("tcp://{addr}")).unwrap();
    let libzmq_up = mon.until("HANDSHAKE_SUCCEEDED");
    drop(dealer);
    let libzmq_gone = mon.until("DISCONNECTED");
    drop(router);
    let libzmq_closed = mon.until("MONITOR_STOPPED");

    let mut router = RouterSocket::new();
    let mut monitor = router.monitor();
    let endpoint = router.bind("tcp://127.0.0.1:0").await.unwrap();
    let dealer = libzmq_socket(&ctx, zmq::DEALER);
    dealer.set_identity(b"client").unwrap();
    dealer.connect(&endpoint).unwrap();
    let (ours_up, events) = until(&mut monitor, "HANDSHAKE_SUCCEEDED").await;
    let accepted = &events[1];
    assert_eq!(accepted.endpoint, endpoint);
    let peer = accepted.peer_address.clone().expect("the peer's address");
    assert!(peer.starts_with("tcp://127.0.0.1:") && peer != endpoint);
    assert_eq!(
        events[2].routing_id.as_deref(),
        Some(&b"client"[..]),
        "HANDSHAKE_SUCCEEDED names the peer"
    );
    dealer.send("hello", 0).unwrap();
    let msg = tokio::time::timeout(IO_TIMEOUT, router.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&msg[1][..], b"hello");
    drop(dealer);
    let (ours_gone, events) = until(&mut monitor, "DISCONNECTED").await;
    assert_eq!(events[0].peer_address.as_deref(), Some(peer.as_str()));
    let stats = router.stats();
    assert_eq!(stats.messages_in, 1);
    assert!(stats.bytes_in > 0 && stats.bytes_out > 0);
    drop(router);
    let ours_closed = until(&mut monitor, "MONITOR_STOPPED").await.0;
    assert!(monitor.next().await.is_none(), "the stream ends");

    assert_eq!(
        names(&libzmq_up),
        ["LISTENING", "ACCEPTED", "HANDSHAKE_SUCCEEDED"]
    );
    assert_eq!(ours_up, libzmq_up);
    assert_eq!(names(&libzmq_gone), ["DISCONNECTED"]);
    assert_eq!(ours_gone, libzmq_gone);
    assert_eq!(names(&libzmq_closed), ["CLOSED", "MONITOR_STOPPED"]);
    assert_eq!(ours_closed, libzmq_closed);
}

/// A greeting with a signature but a mechanism nobody speaks.
fn garbage_greeting() -> Vec<u8> {
    let mut greeting = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 0];
    let mut mechanism = b"GARBAGE".to_vec();
    mechanism.resize(20, 0);
    greeting.extend(mechanism);
    greeting.extend([0u8; 32]);
    greeting
}

fn send_garbage(addr: SocketAddr) -> TcpStream {
    let mut raw = TcpStream::connect(addr).expect("raw tcp connect");
    raw.write_all(&garbage_greeting()).expect("send garbage");
    raw
}

/// The address of a `tcp://ip:port` endpoint.
fn tcp_addr(endpoint: &str) -> SocketAddr {
    let addr = endpoint.strip_prefix("tcp://").expect("a tcp endpoint");
    addr.parse().expect("ip:port")
}

/// [`send_garbage`] to our socket bound at `endpoint`, off the runtime.
async fn garbage_to(endpoint: &str) -> TcpStream {
    let addr = tcp_addr(endpoint);
    tokio::task::spawn_blocking(move || send_garbage(addr))
        .await
        .expect("the raw peer")
}

/// A libzmq ROUTER, monitored, that a raw peer sent [`garbage_greeting`] (kept open).
fn libzmq_router_fed_garbage(
    ctx: &zmq::Context,
    name: &str,
) -> (zmq::Socket, LibzmqMonitor, SocketAddr, TcpStream) {
    let router = libzmq_socket(ctx, zmq::ROUTER);
    let mon = LibzmqMonitor::start(ctx, &router, name);
    let addr = bind_loopback(&router);
    let raw = send_garbage(addr);
    (router, mon, addr, raw)
}

/// A raw tcp peer whose greeting names no mechanism we know.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_failed_by_protocol_matches_libzmq() {
    let ctx = zmq::Context::new();

    let (_router, mon, _, _raw) = libzmq_router_fed_garbage(&ctx, "protocol");
    let libzmq_seen = mon.until("DISCONNECTED");

    let mut router = RouterSocket::new();
    let mut monitor = router.monitor();
    let endpoint = router.bind("tcp://127.0.0.1:0").await.unwrap();
    let raw = garbage_to(&endpoint).await;
    let (ours_seen, events) = until(&mut monitor, "DISCONNECTED").await;
    let local = raw.local_addr().unwrap();
    assert_eq!(
        events[2].peer_address.as_deref(),
        Some(format!("tcp://{local}").as_str())
    );
    assert_eq!(router.stats().handshake_failures, 1);

    assert_eq!(
        libzmq_seen,
        [
            ("LISTENING", None),
            ("ACCEPTED", None),
            (
                "HANDSHAKE_FAILED_PROTOCOL",
                Some(protocol_error::ZMTP_MECHANISM_MISMATCH)
            ),
            ("DISCONNECTED", None)
        ]
    );
    assert_eq!(ours_seen, libzmq_seen);
}

/// The bytes our `monitor_endpoint` publishes are the bytes libzmq's monitor publishes for
/// the same event (here HANDSHAKE_FAILED_PROTOCOL, whose value is no descriptor).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_endpoint_frames_match_libzmq_bytes() {
    let ctx = zmq::Context::new();
    let (_router, mon, addr, _raw) = libzmq_router_fed_garbage(&ctx, "bytes");
    let libzmq_frames = loop {
        let frames = mon.next_frames();
        if frames[0][..2] == [0x00, 0x20] {
            break frames;
        }
    };
    assert_eq!(libzmq_frames[1], format!("tcp://{addr}").into_bytes());

    let mut router = RouterSocket::new();
    router
        .monitor_endpoint("inproc://our-monitor", zmq_async::Events::ALL)
        .await
        .unwrap();
    let mut reader = PairSocket::new();
    reader.connect("inproc://our-monitor").await.unwrap();
    let endpoint = router.bind("tcp://127.0.0.1:0").await.unwrap();
    let _raw = garbage_to(&endpoint).await;
    let ours: Message = loop {
        let msg = tokio::time::timeout(IO_TIMEOUT, reader.recv())
            .await
            .unwrap()
            .unwrap();
        if msg[0][..2] == [0x00, 0x20] {
            break msg;
        }
    };
    assert_eq!(ours.len(), 2);
    assert_eq!(&ours[0][..], &libzmq_frames[0][..]);
    assert_eq!(&ours[1][..], endpoint.as_bytes());
    drop(router);
    // MONITOR_STOPPED ends the publication, as libzmq's.
    let last = loop {
        let msg = tokio::time::timeout(IO_TIMEOUT, reader.recv())
            .await
            .unwrap()
            .unwrap();
        if msg[0][..2] == [0x00, 0x04] {
            break msg;
        }
    };
    assert_eq!(&last[0][..], &[0x00, 0x04, 0, 0, 0, 0]);
}

fn libzmq_plain_client(ctx: &zmq::Context) -> zmq::Socket {
    let dealer = libzmq_socket(ctx, zmq::DEALER);
    dealer.set_plain_username(Some("user")).unwrap();
    dealer.set_plain_password(Some("wrong")).unwrap();
    dealer
}

/// A PLAIN server whose ZAP handler refuses the client: both sides' events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_failed_by_auth_matches_libzmq() {
    // libzmq server and client, libzmq's handler.
    let ctx = zmq::Context::new();
    let refuser = LibzmqZap::start(&ctx, |_| ("400", "No access"));
    let server = libzmq_socket(&ctx, zmq::ROUTER);
    server.set_plain_server(true).unwrap();
    let server_mon = LibzmqMonitor::start(&ctx, &server, "auth-server");
    let addr = bind_loopback(&server);
    let client = libzmq_plain_client(&ctx);
    let client_mon = LibzmqMonitor::start(&ctx, &client, "auth-client");
    client.connect(&format!("tcp://{addr}")).unwrap();
    let libzmq_server = server_mon.until("DISCONNECTED");
    let libzmq_client = client_mon.until("DISCONNECTED");

    // Our server (our handler refuses: it allows nobody), a libzmq client.
    let _zap = zap::serve(StaticAuthenticator::new()).await.unwrap();
    let mut options = SocketOptions::default();
    options.plain_server = true;
    let mut ours = RouterSocket::with_options(options).unwrap();
    let mut monitor = ours.monitor();
    let endpoint = ours.bind("tcp://127.0.0.1:0").await.unwrap();
    let other = libzmq_plain_client(&ctx);
    other.connect(&endpoint).unwrap();
    let (ours_server, events) = until(&mut monitor, "DISCONNECTED").await;
    assert!(events[2].peer_address.is_some());
    assert_eq!(ours.stats().handshake_failures, 1);
    drop(other);

    // Our client, the libzmq server and handler.
    let mut options = SocketOptions::default();
    options.plain_username = Some("user".into());
    options.plain_password = Some("wrong".into());
    let client = DealerSocket::with_options(options).unwrap();
    let mut monitor = client.monitor();
    let mut client = client;
    client.connect(&format!("tcp://{addr}")).await.unwrap();
    let ours_client = until(&mut monitor, "DISCONNECTED").await.0;
    drop((refuser, server, server_mon, client_mon));

    let failed = ("HANDSHAKE_FAILED_AUTH", Some(400));
    assert_eq!(
        libzmq_server,
        [
            ("LISTENING", None),
            ("ACCEPTED", None),
            failed,
            ("DISCONNECTED", None)
        ]
    );
    assert_eq!(ours_server, libzmq_server);
    assert!(libzmq_client.contains(&failed), "{libzmq_client:?}");
    assert_eq!(ours_client, libzmq_client);
}

/// Several monitors each get every event; one never read drops (and counts) what it has
/// no room for, without slowing the socket or the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_monitor_drops_and_counts_without_blocking() {
    let mut router = RouterSocket::new();
    // The idle one first: a monitor gets each event after those made before it, so by the
    // time `reader` has an event, `idle` has it or counted it.
    let idle = router.monitor_with(zmq_async::Events::ALL, 1);
    let mut reader = router.monitor();
    let endpoint = router.bind("tcp://127.0.0.1:0").await.unwrap();
    for _ in 0..3 {
        let _raw = garbage_to(&endpoint).await;
        until(&mut reader, "DISCONNECTED").await;
    }
    // LISTENING fit; the 9 after it (ACCEPTED, HANDSHAKE_FAILED_PROTOCOL, DISCONNECTED
    // per connection) did not.
    assert_eq!(idle.dropped(), 9);
    assert_eq!(reader.dropped(), 0);
    assert_eq!(router.stats().handshake_failures, 3);
}

/// Bytes that are no ZMTP greeting at all, then the peer leaves: libzmq waits for more
/// (the first byte could start a ZMTP 1.0 identity) and reports HANDSHAKE_FAILED_NO_DETAIL
/// when the peer goes; so do we.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_zmtp_peer_leaving_matches_libzmq() {
    fn http_then_leave(addr: SocketAddr) {
        let mut raw = TcpStream::connect(addr).expect("raw tcp connect");
        raw.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("send");
    }
    let ctx = zmq::Context::new();
    let router = libzmq_socket(&ctx, zmq::ROUTER);
    let mon = LibzmqMonitor::start(&ctx, &router, "http");
    let addr = bind_loopback(&router);
    http_then_leave(addr);
    let libzmq_seen = mon.until("DISCONNECTED");

    let mut router = RouterSocket::new();
    let mut monitor = router.monitor();
    let endpoint = router.bind("tcp://127.0.0.1:0").await.unwrap();
    let addr = tcp_addr(&endpoint);
    tokio::task::spawn_blocking(move || http_then_leave(addr))
        .await
        .unwrap();
    let ours_seen = until(&mut monitor, "DISCONNECTED").await.0;

    assert_eq!(
        names(&libzmq_seen),
        [
            "LISTENING",
            "ACCEPTED",
            "HANDSHAKE_FAILED_NO_DETAIL",
            "DISCONNECTED"
        ]
    );
    assert_eq!(ours_seen, libzmq_seen);
}
