//! Security between sockets over tcp: PLAIN and CURVE options, and ZAP (RFC 27) through
//! `inproc://zeromq.zap.01` — with `zap::serve`, with a libzmq-style REP handler, and with
//! no handler at all.
//!
//! The ZAP handler is process-wide, so every test here holds [`LOCK`]. Tests synchronise
//! on events (a handler's verdict, a message, a raw peer's ERROR or close); timeouts only
//! guard against hangs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::{plain_client, plain_server};
use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use zmq_async::zap::{self, Authenticator, StaticAuthenticator, ZapReply, ZapRequest};
use zmq_async::{
    Error, Message, PullSocket, PushSocket, RepSocket, ReqSocket, RouterSocket, Security,
    SocketOptions,
};
use zmtp_codec::{Config, Connection, CurveKeyPair, Event, MechanismConfig, Metadata, SocketType};

/// One ZAP handler per process: tests that touch it run one at a time.
static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Guards against hangs only.
async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("test timed out")
}

fn text(m: &Message) -> Vec<String> {
    m.iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

fn user_id(infos: &[zmq_async::PeerInfo]) -> Option<Bytes> {
    infos
        .iter()
        .flat_map(|i| i.metadata.iter())
        .find(|(n, _)| n == "User-Id")
        .map(|(_, v)| v.clone())
}

/// An authenticator that reports each verdict on a channel.
struct Recording<A> {
    inner: A,
    seen: mpsc::UnboundedSender<(ZapRequest, ZapReply)>,
}

impl<A: Authenticator> Authenticator for Recording<A> {
    fn authenticate<'a>(&'a self, request: &'a ZapRequest) -> BoxFuture<'a, ZapReply> {
        Box::pin(async move {
            let reply = self.inner.authenticate(request).await;
            let _ = self.seen.send((request.clone(), reply.clone()));
            reply
        })
    }
}

/// An authenticator that reports each request on a channel and never decides.
struct Undecided(mpsc::UnboundedSender<ZapRequest>);

impl Authenticator for Undecided {
    fn authenticate<'a>(&'a self, request: &'a ZapRequest) -> BoxFuture<'a, ZapReply> {
        let _ = self.0.send(request.clone());
        Box::pin(futures::future::pending())
    }
}

async fn serve_recording(
    inner: impl Authenticator,
) -> (
    zap::ZapHandle,
    mpsc::UnboundedReceiver<(ZapRequest, ZapReply)>,
) {
    let (seen, verdicts) = mpsc::unbounded_channel();
    let handle = zap::serve(Recording { inner, seen }).await.unwrap();
    (handle, verdicts)
}

fn curve_server(keys: &CurveKeyPair) -> SocketOptions {
    let mut o = SocketOptions::default();
    o.curve_server = true;
    o.set_curve_keypair(keys);
    o
}

fn curve_client(keys: &CurveKeyPair, server: &CurveKeyPair) -> SocketOptions {
    let mut o = SocketOptions::default();
    o.set_curve_keypair(keys);
    o.set_curve_serverkey(server.public).unwrap();
    o
}

async fn pull_bound(opts: SocketOptions) -> (PullSocket, String) {
    let mut pull = PullSocket::with_options(opts).unwrap();
    let ep = pull.bind("tcp://127.0.0.1:0").await.unwrap();
    (pull, ep)
}

async fn push_to(opts: SocketOptions, ep: &str, body: &'static str) -> PushSocket {
    let mut push = PushSocket::with_options(opts).unwrap();
    push.connect(ep).await.unwrap();
    push.send(Message::from(body)).await.unwrap();
    push
}

/// How a raw codec peer's handshake with one of our servers ended.
#[derive(Debug, PartialEq)]
enum Raw {
    Succeeded,
    /// The server sent ERROR with this reason.
    Error(String),
    /// The server closed without ERROR.
    Closed,
}

/// Runs one handshake as a client with `mechanism`, with our codec over a tokio stream.
async fn raw_handshake(ep: &str, mechanism: MechanismConfig) -> Raw {
    let addr = ep.strip_prefix("tcp://").unwrap();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let config = Config::new(SocketType::Push).mechanism(mechanism);
    let mut conn = Connection::new(config, Instant::now()).unwrap();
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        while let Some(out) = conn.poll_transmit() {
            if stream.write_all(&out).await.is_err() {
                return Raw::Closed;
            }
        }
        while let Ok(Some(event)) = conn.poll_event() {
            if matches!(event, Event::HandshakeSucceeded(_)) {
                return Raw::Succeeded;
            }
        }
        buf.clear();
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return Raw::Closed,
            Ok(_) => {}
        }
        match conn.handle_input(Instant::now(), &buf) {
            Ok(()) => {}
            Err(zmtp_codec::Error::PeerError(reason)) => return Raw::Error(reason),
            Err(e) => panic!("unexpected codec error {e}"),
        }
    }
}

/// [`raw_handshake`] in a task of its own.
fn spawn_raw_handshake(ep: &str, mechanism: MechanismConfig) -> tokio::task::JoinHandle<Raw> {
    let ep = ep.to_owned();
    tokio::spawn(async move { raw_handshake(&ep, mechanism).await })
}

fn raw_plain(user: &str, password: &str) -> MechanismConfig {
    MechanismConfig::PlainClient {
        username: Bytes::copy_from_slice(user.as_bytes()),
        password: Bytes::copy_from_slice(password.as_bytes()),
    }
}

// ---- options ---------------------------------------------------------------------------

#[test]
fn curve_key_setters_take_bytes_or_z85_and_debug_redacts_secrets() {
    let keys = CurveKeyPair::generate();
    let mut o = SocketOptions::default();
    o.set_curve_publickey(keys.public).unwrap();
    assert_eq!(o.curve_publickey, Some(keys.public));
    o.set_curve_publickey(keys.public_z85()).unwrap();
    assert_eq!(o.curve_publickey, Some(keys.public));
    let mut nul_terminated = keys.public_z85().into_bytes();
    nul_terminated.push(0);
    o.set_curve_publickey(&nul_terminated).unwrap();
    o.set_curve_secretkey(keys.secret.to_z85()).unwrap();
    assert_eq!(o.curve_secretkey.as_ref(), Some(&keys.secret));
    for bad in [&b"short"[..], &[0u8; 31], &[b'~'; 40], &[b'0'; 41]] {
        assert!(matches!(
            o.set_curve_serverkey(bad),
            Err(Error::InvalidArgument(_))
        ));
    }
    o.plain_password = Some(Bytes::from_static(b"hunter2"));
    let shown = format!("{o:?}");
    assert!(!shown.contains(&keys.secret.to_z85()), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains(&keys.public_z85()), "{shown}");
}

#[test]
fn mechanism_follows_libzmq_rules() {
    let keys = CurveKeyPair::generate();
    assert_eq!(SocketOptions::default().security().unwrap(), Security::Null);
    assert_eq!(plain_server().security().unwrap(), Security::PlainServer);
    assert_eq!(
        plain_client("u", "p").security().unwrap(),
        Security::PlainClient
    );
    assert_eq!(
        curve_server(&keys).security().unwrap(),
        Security::CurveServer
    );
    assert_eq!(
        curve_client(&keys, &keys).security().unwrap(),
        Security::CurveClient
    );
    // Our own key pair alone selects nothing (libzmq: CURVE client with no server key,
    // which can never connect); a zap_domain alone keeps NULL.
    let mut o = SocketOptions::default();
    o.set_curve_keypair(&keys);
    o.zap_domain = Some("global".into());
    assert_eq!(o.security().unwrap(), Security::Null);
    // Contradictions and missing keys are refused.
    let mut both = plain_server();
    both.curve_server = true;
    assert!(both.security().is_err());
    let mut two_roles = curve_server(&keys);
    two_roles.curve_serverkey = Some(keys.public);
    assert!(two_roles.security().is_err());
    let mut no_secret = curve_server(&keys);
    no_secret.curve_secretkey = None;
    assert!(no_secret.security().is_err());
    let mut wrong_pair = curve_server(&keys);
    wrong_pair.curve_publickey = Some(CurveKeyPair::generate().public);
    assert!(wrong_pair.security().is_err());
}

#[tokio::test]
async fn curve_without_key_pair_fails_at_bind_and_connect() {
    let server = CurveKeyPair::generate();
    let mut rep = RepSocket::new();
    rep.set_curve_server(true).unwrap();
    let err = rep.bind("tcp://127.0.0.1:0").await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(m) if m.contains("key pair")));
    let mut req = ReqSocket::new();
    req.set_curve_serverkey(server.public_z85()).unwrap();
    let err = req.connect("tcp://127.0.0.1:5555").await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(m) if m.contains("key pair")));
    // inproc ignores security, as in libzmq.
    rep.bind("inproc://security-ignored").await.unwrap();
}

// ---- PLAIN -----------------------------------------------------------------------------

#[tokio::test]
async fn plain_with_static_authenticator_right_password() {
    let _lock = LOCK.lock().await;
    within(async {
        let auth = StaticAuthenticator::new().allow_plain("admin", "secret");
        let (_zap, mut verdicts) = serve_recording(auth).await;
        let (mut pull, ep) = pull_bound(plain_server()).await;
        let _push = push_to(plain_client("admin", "secret"), &ep, "hello").await;
        let got = pull.recv().await.unwrap();
        assert_eq!(text(&got), ["hello"]);
        // The message carries its sender's properties (libzmq's zmq_msg_gets).
        assert_eq!(got.property("User-Id").map(|v| &v[..]), Some(&b"admin"[..]));
        assert_eq!(
            got.property("Socket-Type").map(|v| &v[..]),
            Some(&b"PUSH"[..])
        );
        let (request, reply) = verdicts.recv().await.unwrap();
        assert_eq!(&request.mechanism[..], b"PLAIN");
        assert_eq!(&request.address[..], b"127.0.0.1");
        assert_eq!(request.credentials, [&b"admin"[..], &b"secret"[..]]);
        assert_eq!(reply.status_code, 200);
        assert_eq!(user_id(&pull.peer_infos()).as_deref(), Some(&b"admin"[..]));
    })
    .await;
}

#[tokio::test]
async fn plain_wrong_password_is_refused_and_nothing_is_delivered() {
    let _lock = LOCK.lock().await;
    within(async {
        let auth = StaticAuthenticator::new().allow_plain("admin", "secret");
        let (_zap, mut verdicts) = serve_recording(auth).await;
        let (mut pull, ep) = pull_bound(plain_server()).await;

        // A raw peer sees the ERROR with the status code.
        let raw = raw_handshake(&ep, raw_plain("admin", "wrong")).await;
        assert_eq!(raw, Raw::Error("400".into()));
        assert_eq!(verdicts.recv().await.unwrap().1.status_code, 400);

        // Our socket with the wrong password: refused (again at every reconnect).
        let bad = push_to(plain_client("admin", "wrong"), &ep, "bad").await;
        let (request, reply) = verdicts.recv().await.unwrap();
        assert_eq!(request.credentials[1], "wrong");
        assert_eq!(reply.status_code, 400);
        assert!(pull.peer_infos().is_empty());

        // A good client's message is the only one that arrives.
        let _good = push_to(plain_client("admin", "secret"), &ep, "good").await;
        assert_eq!(text(&pull.recv().await.unwrap()), ["good"]);
        assert!(matches!(pull.try_recv(), Err(Error::WouldBlock)));
        drop(bad);
    })
    .await;
}

#[tokio::test]
async fn plain_without_handler_closes_without_error() {
    let _lock = LOCK.lock().await;
    within(async {
        let (mut pull, ep) = pull_bound(plain_server()).await;
        let raw = raw_handshake(&ep, raw_plain("admin", "secret")).await;
        assert_eq!(raw, Raw::Closed);
        let _push = push_to(plain_client("admin", "secret"), &ep, "lost").await;
        // The handshake fails at the server whatever the client sends.
        assert_eq!(raw_handshake(&ep, raw_plain("x", "y")).await, Raw::Closed);
        assert!(matches!(pull.try_recv(), Err(Error::WouldBlock)));
        assert!(pull.peer_infos().is_empty());
    })
    .await;
}

// ---- NULL with a domain, and a libzmq-style handler -------------------------------------

#[tokio::test]
async fn null_with_zap_domain_asks_a_libzmq_style_rep_handler() {
    let _lock = LOCK.lock().await;
    within(async {
        // A handler as the zguide writes them: a REP socket bound at the ZAP endpoint.
        let mut handler = RepSocket::new();
        handler.bind(zap::ENDPOINT).await.unwrap();

        let mut server_opts = SocketOptions::default();
        server_opts.zap_domain = Some("global".into());
        server_opts.routing_id = Some(Bytes::from_static(b"srv"));
        let (mut pull, ep) = pull_bound(server_opts).await;
        let _push = push_to(SocketOptions::default(), &ep, "hello").await;

        let request = handler.recv().await.unwrap();
        assert_eq!(
            text(&request),
            ["1.0", "1", "global", "127.0.0.1", "srv", "NULL"]
        );
        let mut metadata = Metadata::new();
        metadata.insert("Hello", "World").unwrap();
        let mut encoded = BytesMut::new();
        metadata.encode(&mut encoded);
        let reply: Message = [
            Bytes::from_static(b"1.0"),
            request[1].clone().into(),
            Bytes::from_static(b"200"),
            Bytes::from_static(b"OK"),
            Bytes::from_static(b"anonymous"),
            encoded.freeze(),
        ]
        .into_iter()
        .collect();
        handler.send(reply).await.unwrap();

        assert_eq!(text(&pull.recv().await.unwrap()), ["hello"]);
        let infos = pull.peer_infos();
        assert_eq!(user_id(&infos).as_deref(), Some(&b"anonymous"[..]));
        assert!(infos[0]
            .metadata
            .iter()
            .any(|(n, v)| n == "Hello" && v == "World"));
    })
    .await;
}

#[tokio::test]
async fn null_without_zap_domain_does_not_ask_the_handler() {
    let _lock = LOCK.lock().await;
    within(async {
        let deny_all = |_: &ZapRequest| ZapReply::deny(400, "no");
        let (_zap, mut verdicts) = serve_recording(deny_all).await;
        let (mut pull, ep) = pull_bound(SocketOptions::default()).await;
        let _push = push_to(SocketOptions::default(), &ep, "hello").await;
        assert_eq!(text(&pull.recv().await.unwrap()), ["hello"]);
        assert!(verdicts.try_recv().is_err());
        assert_eq!(user_id(&pull.peer_infos()), None);
    })
    .await;
}

#[tokio::test]
async fn curve_with_zap_enforce_domain_and_no_domain_does_not_ask_the_handler() {
    let _lock = LOCK.lock().await;
    within(async {
        let deny_all = |_: &ZapRequest| ZapReply::deny(400, "no");
        let (_zap, mut verdicts) = serve_recording(deny_all).await;
        let (server_keys, client_keys) = (CurveKeyPair::generate(), CurveKeyPair::generate());
        let mut opts = curve_server(&server_keys);
        opts.zap_enforce_domain = true;
        let (mut pull, ep) = pull_bound(opts).await;
        let _push = push_to(curve_client(&client_keys, &server_keys), &ep, "hello").await;
        assert_eq!(text(&pull.recv().await.unwrap()), ["hello"]);
        assert!(verdicts.try_recv().is_err(), "the handler was asked");
        assert_eq!(user_id(&pull.peer_infos()), None);

        // With a domain, the handler is asked (and here refuses).
        let mut opts = curve_server(&server_keys);
        opts.zap_enforce_domain = true;
        opts.zap_domain = Some("global".into());
        let (_pull, ep) = pull_bound(opts).await;
        let _push = push_to(curve_client(&client_keys, &server_keys), &ep, "hello").await;
        let (request, reply) = verdicts.recv().await.unwrap();
        assert_eq!(request.domain, "global");
        assert_eq!(reply.status_code, 400);
    })
    .await;
}

#[tokio::test]
async fn malformed_zap_reply_closes_without_error() {
    let _lock = LOCK.lock().await;
    within(async {
        let mut handler = RepSocket::new();
        handler.bind(zap::ENDPOINT).await.unwrap();
        let mut server_opts = SocketOptions::default();
        server_opts.zap_domain = Some("global".into());
        let (mut pull, ep) = pull_bound(server_opts).await;
        let raw = spawn_raw_handshake(&ep, MechanismConfig::Null);
        let request = handler.recv().await.unwrap();
        // Six frames are right for REP, but the status code is not a ZAP status code.
        let reply: Message = ["1.0", "1", "201", "OK", "", ""]
            .iter()
            .map(|f| f.as_bytes().to_vec())
            .collect();
        assert_eq!(&request[1][..], b"1");
        handler.send(reply).await.unwrap();
        assert_eq!(raw.await.unwrap(), Raw::Closed);
        assert!(matches!(pull.try_recv(), Err(Error::WouldBlock)));
    })
    .await;
}

#[tokio::test]
async fn dropping_the_zap_handle_unbinds() {
    let _lock = LOCK.lock().await;
    within(async {
        let first = zap::serve(StaticAuthenticator::new()).await.unwrap();
        assert!(matches!(
            zap::serve(StaticAuthenticator::new()).await,
            Err(Error::AddrInUse(_))
        ));
        drop(first);
        let _second = zap::serve(StaticAuthenticator::new()).await.unwrap();
    })
    .await;
}

// ---- the ZAP pipes: handler types, handlers that leave, many handshakes ----------------

/// A PLAIN server with no handshake deadline: only the ZAP exchange can end a handshake.
fn plain_server_without_deadline() -> SocketOptions {
    let mut o = plain_server();
    o.handshake_ivl = None;
    o
}

/// A reply as a REP handler sends it.
fn rep_reply(request_id: &[u8], status: &'static str, user: &'static str) -> Message {
    [
        Bytes::from_static(b"1.0"),
        Bytes::copy_from_slice(request_id),
        Bytes::from_static(status.as_bytes()),
        Bytes::from_static(b"text"),
        Bytes::from_static(user.as_bytes()),
        Bytes::new(),
    ]
    .into_iter()
    .collect()
}

/// A REP handler at the ZAP endpoint that has received the request of a raw PLAIN peer
/// (admin/secret) connecting to a PLAIN server without handshake deadline.
struct Asked {
    handler: RepSocket,
    pull: PullSocket,
    ep: String,
    raw: tokio::task::JoinHandle<Raw>,
    request: Message,
}

async fn asked_by_plain_peer() -> Asked {
    let mut handler = RepSocket::new();
    handler.bind(zap::ENDPOINT).await.unwrap();
    let (pull, ep) = pull_bound(plain_server_without_deadline()).await;
    let raw = spawn_raw_handshake(&ep, raw_plain("admin", "secret"));
    let request = handler.recv().await.unwrap();
    assert_eq!(text(&request)[5..], ["PLAIN", "admin", "secret"]);
    Asked {
        handler,
        pull,
        ep,
        raw,
        request,
    }
}

#[tokio::test]
async fn a_router_handler_answers_many_concurrent_handshakes() {
    let _lock = LOCK.lock().await;
    within(async {
        const N: usize = 24;
        // libzmq users bind ROUTER handlers too: requests arrive behind a routing id.
        let mut handler = RouterSocket::new();
        handler.bind(zap::ENDPOINT).await.unwrap();
        let (_pull, ep) = pull_bound(plain_server()).await;
        let clients: Vec<_> = (0..N)
            .map(|i| {
                let password = if i % 2 == 0 { "secret" } else { "wrong" };
                spawn_raw_handshake(&ep, raw_plain("admin", password))
            })
            .collect();
        // Every handshake waits for its verdict: N requests in flight at once, each over a
        // pipe pair of its own, which the handler sees as a peer.
        let mut requests = Vec::new();
        for _ in 0..N {
            requests.push(handler.recv().await.unwrap());
        }
        assert_eq!(handler.peer_count(), N);
        for request in requests {
            assert_eq!(
                text(&request)[1..8],
                ["", "1.0", "1", "", "127.0.0.1", "", "PLAIN"]
            );
            let (status, user) = if &request[9][..] == b"secret" {
                ("200", "admin")
            } else {
                ("400", "")
            };
            let mut reply = rep_reply(&request[3], status, user);
            reply.push_front(Bytes::new());
            reply.push_front(request[0].clone());
            handler.send(reply).await.unwrap();
        }
        for (i, client) in clients.into_iter().enumerate() {
            let expected = if i % 2 == 0 {
                Raw::Succeeded
            } else {
                Raw::Error("400".into())
            };
            assert_eq!(client.await.unwrap(), expected, "client {i}");
        }
        // Each exchange let go of its pipes when its verdict arrived: nothing piles up.
        assert_eq!(handler.peer_count(), 0);
    })
    .await;
}

#[tokio::test]
async fn a_handler_closed_mid_request_fails_the_handshake_at_once() {
    let _lock = LOCK.lock().await;
    within(async {
        let mut asked = asked_by_plain_peer().await;
        drop(asked.handler);
        // Without a handshake deadline, only the closed pipe can end this.
        assert_eq!(asked.raw.await.unwrap(), Raw::Closed);
        assert!(asked.pull.peer_infos().is_empty());
    })
    .await;
}

#[tokio::test]
async fn dropping_the_zap_handle_fails_handshakes_it_was_deciding() {
    let _lock = LOCK.lock().await;
    within(async {
        let (asked, mut requests) = mpsc::unbounded_channel();
        let zap = zap::serve(Undecided(asked)).await.unwrap();
        let (_pull, ep) = pull_bound(plain_server_without_deadline()).await;
        let raw = spawn_raw_handshake(&ep, raw_plain("admin", "secret"));
        assert_eq!(requests.recv().await.unwrap().credentials[0], "admin");
        drop(zap);
        assert_eq!(raw.await.unwrap(), Raw::Closed);
    })
    .await;
}

#[tokio::test]
async fn a_handler_that_unbinds_still_answers_what_it_was_asked() {
    let _lock = LOCK.lock().await;
    within(async {
        let Asked {
            mut handler,
            mut pull,
            ep,
            raw,
            request,
        } = asked_by_plain_peer().await;
        // As libzmq: unbinding stops new requests, not the pipes already linked.
        handler.unbind(zap::ENDPOINT).await.unwrap();
        handler
            .send(rep_reply(&request[1], "200", "admin"))
            .await
            .unwrap();
        assert_eq!(raw.await.unwrap(), Raw::Succeeded);
        // The next PLAIN peer finds no handler: refused without ERROR.
        assert_eq!(
            raw_handshake(&ep, raw_plain("admin", "secret")).await,
            Raw::Closed
        );
        assert!(matches!(handler.try_recv(), Err(Error::WouldBlock)));
        assert!(matches!(pull.try_recv(), Err(Error::WouldBlock)));
    })
    .await;
}

#[tokio::test]
async fn a_handler_of_the_wrong_type_fails_the_handshake() {
    let _lock = LOCK.lock().await;
    within(async {
        // libzmq asserts on this; we refuse the request's pipes, which ends the exchange.
        let mut handler = PullSocket::new();
        handler.bind(zap::ENDPOINT).await.unwrap();
        let serving = tokio::spawn(async move {
            let got = handler.recv().await;
            (handler, got)
        });
        let (_pull, ep) = pull_bound(plain_server_without_deadline()).await;
        assert_eq!(
            raw_handshake(&ep, raw_plain("admin", "secret")).await,
            Raw::Closed
        );
        // Wait until the aborted task (and the handler it owns, bound to the ZAP endpoint)
        // is dropped: left to the runtime's shutdown, it outlived the lock, and the next
        // test's bind of the endpoint failed with AddrInUse now and then.
        serving.abort();
        let _ = serving.await;
    })
    .await;
}

// ---- CURVE -----------------------------------------------------------------------------

#[tokio::test]
async fn curve_allowed_key_is_accepted_and_other_keys_denied() {
    let _lock = LOCK.lock().await;
    within(async {
        let server = CurveKeyPair::generate();
        let allowed = CurveKeyPair::generate();
        let other = CurveKeyPair::generate();
        let auth = StaticAuthenticator::new().allow_curve(allowed.public);
        let (_zap, mut verdicts) = serve_recording(auth).await;
        let (mut pull, ep) = pull_bound(curve_server(&server)).await;

        let bad = push_to(curve_client(&other, &server), &ep, "bad").await;
        let (request, reply) = verdicts.recv().await.unwrap();
        assert_eq!(request.client_key(), Some(other.public));
        assert_eq!(reply.status_code, 400);

        let _good = push_to(curve_client(&allowed, &server), &ep, "good").await;
        loop {
            let (request, reply) = verdicts.recv().await.unwrap();
            if request.client_key() == Some(allowed.public) {
                assert_eq!(reply.status_code, 200);
                break;
            }
            assert_eq!(reply.status_code, 400); // the bad client reconnecting
        }
        assert_eq!(text(&pull.recv().await.unwrap()), ["good"]);
        assert!(matches!(pull.try_recv(), Err(Error::WouldBlock)));
        let expected = allowed.public_z85();
        assert_eq!(
            user_id(&pull.peer_infos()).as_deref(),
            Some(expected.as_bytes())
        );
        drop(bad);
    })
    .await;
}

#[tokio::test]
async fn curve_without_handler_accepts_any_client_key() {
    let _lock = LOCK.lock().await;
    within(async {
        let server = CurveKeyPair::generate();
        let (mut rep, ep) = {
            let mut rep = RepSocket::with_options(curve_server(&server)).unwrap();
            let ep = rep.bind("tcp://127.0.0.1:0").await.unwrap();
            (rep, ep)
        };
        let mut req =
            ReqSocket::with_options(curve_client(&CurveKeyPair::generate(), &server)).unwrap();
        req.connect(&ep).await.unwrap();
        req.send(Message::from("ping")).await.unwrap();
        assert_eq!(text(&rep.recv().await.unwrap()), ["ping"]);
        rep.send(Message::from("pong")).await.unwrap();
        assert_eq!(text(&req.recv().await.unwrap()), ["pong"]);
        assert_eq!(user_id(&rep.peer_infos()), None);
    })
    .await;
}

#[tokio::test]
async fn curve_client_with_wrong_server_key_delivers_nothing() {
    let _lock = LOCK.lock().await;
    within(async {
        let server = CurveKeyPair::generate();
        let impostor = CurveKeyPair::generate();
        let (mut pull, ep) = pull_bound(curve_server(&server)).await;
        // HELLO sealed for another server key: the server cannot open it and closes.
        let raw = raw_handshake(
            &ep,
            MechanismConfig::curve_client(&CurveKeyPair::generate(), impostor.public),
        )
        .await;
        assert_eq!(raw, Raw::Closed);
        let _good = push_to(
            curve_client(&CurveKeyPair::generate(), &server),
            &ep,
            "good",
        )
        .await;
        assert_eq!(text(&pull.recv().await.unwrap()), ["good"]);
    })
    .await;
}
