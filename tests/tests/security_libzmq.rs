//! PLAIN, CURVE and ZAP between our sockets and libzmq's over tcp.
//!
//! libzmq's ZAP handler lives in its own context (a libzmq REP bound at
//! `inproc://zeromq.zap.01`), ours in this process's inproc registry; tests that use one of
//! our servers hold [`LOCK`], since our handler (or its absence) is process-wide.
//! Tests synchronise on events; timeouts only guard against hangs, except where the
//! assertion is that nothing arrives ([`QUIET`]).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zmq_async::zap::{self, Authenticator, StaticAuthenticator, ZapReply, ZapRequest};
use zmq_async::{Message, PullSocket, RepSocket, ReqSocket, SocketOptions, SubSocket, XPubSocket};
use zmq_tests::{bind_loopback, blocking, libzmq_socket, within, LibzmqZap, QUIET};
use zmtp_codec::{Config, Connection, CurveKeyPair, Event, MechanismConfig, SocketType};

// libzmq's test keys (doc/zmq_curve.adoc).
const CLIENT_PUBLIC: &str = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
const CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";
const SERVER_PUBLIC: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
const SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";

/// Our ZAP handler is process-wide.
static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn curve_available() -> bool {
    let ok = zmq::has("curve") == Some(true);
    if !ok {
        eprintln!("libzmq was built without CURVE; skipping");
    }
    ok
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

fn our_curve_server() -> SocketOptions {
    let mut o = SocketOptions::default();
    o.curve_server = true;
    o.set_curve_publickey(SERVER_PUBLIC).unwrap();
    o.set_curve_secretkey(SERVER_SECRET).unwrap();
    o
}

fn our_curve_client() -> SocketOptions {
    let mut o = SocketOptions::default();
    o.set_curve_publickey(CLIENT_PUBLIC).unwrap();
    o.set_curve_secretkey(CLIENT_SECRET).unwrap();
    o.set_curve_serverkey(SERVER_PUBLIC).unwrap();
    o
}

fn our_plain_client(user: &str, password: &str) -> SocketOptions {
    let mut o = SocketOptions::default();
    o.plain_username = Some(Bytes::copy_from_slice(user.as_bytes()));
    o.plain_password = Some(Bytes::copy_from_slice(password.as_bytes()));
    o
}

fn libzmq_curve_server(s: &zmq::Socket) {
    s.set_curve_server(true).unwrap();
    s.set_curve_secretkey(SERVER_SECRET.as_bytes()).unwrap();
}

fn libzmq_curve_client(s: &zmq::Socket) {
    s.set_curve_serverkey(SERVER_PUBLIC.as_bytes()).unwrap();
    s.set_curve_publickey(CLIENT_PUBLIC.as_bytes()).unwrap();
    s.set_curve_secretkey(CLIENT_SECRET.as_bytes()).unwrap();
}

/// An authenticator that reports each verdict.
struct Recording<A> {
    inner: A,
    seen: tokio::sync::mpsc::UnboundedSender<(ZapRequest, ZapReply)>,
}

impl<A: Authenticator> Authenticator for Recording<A> {
    fn authenticate<'a>(
        &'a self,
        request: &'a ZapRequest,
    ) -> futures::future::BoxFuture<'a, ZapReply> {
        Box::pin(async move {
            let reply = self.inner.authenticate(request).await;
            let _ = self.seen.send((request.clone(), reply.clone()));
            reply
        })
    }
}

fn strs(frames: &[Vec<u8>]) -> Vec<String> {
    frames
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

/// How one raw handshake of our codec with a libzmq server ended.
#[derive(Debug, PartialEq)]
enum Raw {
    Succeeded,
    Error(String),
    Closed,
    /// Our codec refused what libzmq sent (the bytes of that read, in hex).
    Refused(String),
}

async fn raw_handshake(addr: std::net::SocketAddr, mechanism: MechanismConfig) -> Raw {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let config = Config::new(SocketType::Req).mechanism(mechanism);
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
            Err(_) => return Raw::Refused(zmq_tests::hex(&buf)),
        }
    }
}

// ---- CURVE -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curve_libzmq_req_to_our_rep_through_our_zap_handler() {
    if !curve_available() {
        return;
    }
    let _lock = LOCK.lock().await;
    let (seen, mut verdicts) = tokio::sync::mpsc::unbounded_channel();
    let auth = StaticAuthenticator::new()
        .allow_curve_z85(CLIENT_PUBLIC)
        .unwrap();
    let _zap = zap::serve(Recording { inner: auth, seen }).await.unwrap();
    let mut rep = RepSocket::with_options(our_curve_server()).unwrap();
    let ep = rep.bind("tcp://127.0.0.1:0").await.unwrap();

    let ctx = zmq::Context::new();
    let req = libzmq_socket(&ctx, zmq::REQ);
    libzmq_curve_client(&req);
    req.connect(&ep).unwrap();
    let req = blocking(move || {
        req.send("hello", 0).unwrap();
        req
    })
    .await;
    assert_eq!(text(&within(rep.recv()).await.unwrap()), ["hello"]);
    let (request, reply) = verdicts.recv().await.unwrap();
    assert_eq!(request.client_key_z85().as_deref(), Some(CLIENT_PUBLIC));
    assert_eq!(reply.status_code, 200);
    assert_eq!(
        user_id(&rep.peer_infos()).as_deref(),
        Some(CLIENT_PUBLIC.as_bytes())
    );
    rep.send(Message::from("world")).await.unwrap();
    let answer = blocking(move || req.recv_bytes(0).unwrap()).await;
    assert_eq!(answer, b"world");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curve_our_req_to_libzmq_rep() {
    if !curve_available() {
        return;
    }
    let ctx = zmq::Context::new();
    let rep = libzmq_socket(&ctx, zmq::REP);
    libzmq_curve_server(&rep);
    let addr = bind_loopback(&rep);
    let mut req = ReqSocket::with_options(our_curve_client()).unwrap();
    req.connect(&format!("tcp://{addr}")).await.unwrap();
    req.send(Message::from("hello")).await.unwrap();
    let rep = blocking(move || {
        assert_eq!(rep.recv_bytes(0).unwrap(), b"hello");
        rep.send("world", 0).unwrap();
        rep
    })
    .await;
    assert_eq!(text(&within(req.recv()).await.unwrap()), ["world"]);
    drop(rep);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curve_libzmq_xpub_to_our_sub() {
    if !curve_available() {
        return;
    }
    let ctx = zmq::Context::new();
    let xpub = libzmq_socket(&ctx, zmq::XPUB);
    libzmq_curve_server(&xpub);
    let addr = bind_loopback(&xpub);
    let mut sub = SubSocket::with_options(our_curve_client()).unwrap();
    sub.subscribe("news").unwrap();
    sub.connect(&format!("tcp://{addr}")).await.unwrap();
    // Publish once libzmq has our subscription: no slow-joiner race.
    let xpub = blocking(move || {
        assert_eq!(xpub.recv_bytes(0).unwrap(), b"\x01news");
        xpub.send_multipart(["news", "curve"], 0).unwrap();
        xpub
    })
    .await;
    assert_eq!(text(&within(sub.recv()).await.unwrap()), ["news", "curve"]);
    drop(xpub);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curve_our_xpub_to_libzmq_sub() {
    if !curve_available() {
        return;
    }
    let _lock = LOCK.lock().await; // no handler of ours: any client key passes
    let mut xpub = XPubSocket::with_options(our_curve_server()).unwrap();
    let ep = xpub.bind("tcp://127.0.0.1:0").await.unwrap();
    let ctx = zmq::Context::new();
    let sub = libzmq_socket(&ctx, zmq::SUB);
    libzmq_curve_client(&sub);
    sub.set_subscribe(b"news").unwrap();
    sub.connect(&ep).unwrap();
    assert_eq!(text(&within(xpub.recv()).await.unwrap()), ["\u{1}news"]);
    xpub.send(Message::from_iter(["news", "curve"]))
        .await
        .unwrap();
    let got = blocking(move || sub.recv_multipart(0).unwrap()).await;
    assert_eq!(strs(&got), ["news", "curve"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curve_libzmq_zap_handler_denies_our_client() {
    if !curve_available() {
        return;
    }
    let ctx = zmq::Context::new();
    let zap = LibzmqZap::start(&ctx, |_| ("400", "No access"));
    let rep = libzmq_socket(&ctx, zmq::REP);
    libzmq_curve_server(&rep);
    let addr = bind_loopback(&rep);

    let mut req = ReqSocket::with_options(our_curve_client()).unwrap();
    req.connect(&format!("tcp://{addr}")).await.unwrap();
    req.send(Message::from("let me in")).await.unwrap();
    let request = blocking(move || (zap.next(), zap)).await;
    let (request, zap) = request;
    assert_eq!(
        strs(&request[..6]),
        ["1.0", "1", "", "127.0.0.1", "", "CURVE"]
    );
    assert_eq!(
        zmtp_codec::z85::encode_key(&request[6].clone().try_into().unwrap()),
        CLIENT_PUBLIC
    );
    // Our client is refused and retries; libzmq's REP never gets the request. (The
    // handler must stay bound: without one, libzmq's CURVE server accepts any key.)
    let (_again, zap) = blocking(move || (zap.next(), zap)).await;
    let rep = blocking(move || {
        rep.set_rcvtimeo(QUIET.as_millis() as i32).unwrap();
        assert_eq!(rep.recv_bytes(0), Err(zmq::Error::EAGAIN));
        rep
    })
    .await;
    // At the protocol level, the refusal is an ERROR with the status code.
    let keys = CurveKeyPair::from_secret_z85(CLIENT_SECRET).unwrap();
    let server = zmtp_codec::z85::decode_key(SERVER_PUBLIC).unwrap();
    let raw = within(raw_handshake(
        addr,
        MechanismConfig::curve_client(&keys, server),
    ))
    .await;
    assert_eq!(raw, Raw::Error("400".into()));
    assert!(req.peer_infos().is_empty());
    drop((rep, zap));
}

// ---- PLAIN -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_libzmq_client_to_our_server() {
    let _lock = LOCK.lock().await;
    let (seen, mut verdicts) = tokio::sync::mpsc::unbounded_channel();
    let auth = StaticAuthenticator::new().allow_plain("admin", "secret");
    let _zap = zap::serve(Recording { inner: auth, seen }).await.unwrap();
    let mut pull = PullSocket::new();
    pull.set_plain_server(true).unwrap();
    let ep = pull.bind("tcp://127.0.0.1:0").await.unwrap();

    let ctx = zmq::Context::new();
    let bad = libzmq_socket(&ctx, zmq::PUSH);
    bad.set_plain_username(Some("admin")).unwrap();
    bad.set_plain_password(Some("wrong")).unwrap();
    bad.connect(&ep).unwrap();
    // Queued for a peer whose handshake never succeeds, or refused if libzmq has already
    // been told no and dropped the connection's pipe (as ws_interop's plain_both_ways saw
    // once on a loaded machine).
    match bad.send("bad", zmq::DONTWAIT) {
        Ok(()) | Err(zmq::Error::EAGAIN) => {}
        Err(e) => panic!("the refused client's send: {e}"),
    }
    let (request, reply) = within(verdicts.recv()).await.unwrap();
    assert_eq!(request.credentials, [&b"admin"[..], &b"wrong"[..]]);
    assert_eq!(reply.status_code, 400);

    let good = libzmq_socket(&ctx, zmq::PUSH);
    good.set_plain_username(Some("admin")).unwrap();
    good.set_plain_password(Some("secret")).unwrap();
    good.connect(&ep).unwrap();
    let good = blocking(move || {
        good.send("good", 0).unwrap();
        good
    })
    .await;
    assert_eq!(text(&within(pull.recv()).await.unwrap()), ["good"]);
    assert!(matches!(pull.try_recv(), Err(zmq_async::Error::WouldBlock)));
    assert_eq!(user_id(&pull.peer_infos()).as_deref(), Some(&b"admin"[..]));
    drop((bad, good));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_our_client_to_libzmq_server_with_libzmq_zap_handler() {
    let ctx = zmq::Context::new();
    let zap = LibzmqZap::start(&ctx, |req| {
        if req.len() == 8 && req[6] == b"admin" && req[7] == b"secret" {
            ("200", "OK")
        } else {
            ("400", "No access")
        }
    });
    let rep = libzmq_socket(&ctx, zmq::REP);
    rep.set_plain_server(true).unwrap();
    rep.set_zap_domain("test").unwrap();
    let addr = bind_loopback(&rep);
    let ep = format!("tcp://{addr}");

    // Wrong password: refused, retried, never delivered.
    let mut wrong = ReqSocket::with_options(our_plain_client("admin", "wrong")).unwrap();
    wrong.connect(&ep).await.unwrap();
    wrong.send(Message::from("bad")).await.unwrap();
    let (first, zap) = blocking(move || (zap.next(), zap)).await;
    assert_eq!(
        strs(&first),
        [
            "1.0",
            "1",
            "test",
            "127.0.0.1",
            "",
            "PLAIN",
            "admin",
            "wrong"
        ]
    );
    let (_again, zap) = blocking(move || (zap.next(), zap)).await;
    assert!(wrong.peer_infos().is_empty());
    // libzmq's PLAIN server sends a malformed ERROR, `04 09 5e 52 52 4f 52 03 34 30 30`:
    // its name prefix "\x05ERROR" is a C hex escape that swallows the E (0x5E, then
    // "RROR"). libzmq's own client fails on it as malformed; our codec recognises the
    // quirk and reports the refusal with its status code.
    assert_eq!(
        within(raw_handshake(
            addr,
            MechanismConfig::PlainClient {
                username: Bytes::from_static(b"admin"),
                password: Bytes::from_static(b"wrong"),
            },
        ))
        .await,
        Raw::Error("400".into())
    );
    drop(wrong);

    // Right password: delivered, and the reply comes back.
    let mut right = ReqSocket::with_options(our_plain_client("admin", "secret")).unwrap();
    right.connect(&ep).await.unwrap();
    right.send(Message::from("good")).await.unwrap();
    let rep = blocking(move || {
        // Refused attempts delivered nothing: the first request is ours.
        assert_eq!(rep.recv_bytes(0).unwrap(), b"good");
        rep.send("welcome", 0).unwrap();
        rep
    })
    .await;
    assert_eq!(text(&within(right.recv()).await.unwrap()), ["welcome"]);
    drop((rep, zap));
}
