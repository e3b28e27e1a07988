//! CURVE interoperability at codec level: our sans-IO `Connection`, driven over a blocking
//! `std::net::TcpStream`, against real libzmq sockets (the `zmq` crate, system libzmq).
//!
//! Every read has a timeout and every wait a deadline, so nothing can hang.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use zmtp_codec::frame::{self, Framing};
use zmtp_codec::{
    AuthReply, Config, Connection, CurveKeyPair, Error, Event, MechanismConfig, Message, SocketType,
};

// libzmq's test keys (doc/zmq_curve.adoc).
const CLIENT_PUBLIC: &str = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
const CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";
const SERVER_PUBLIC: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
const SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";

const WAIT: Duration = Duration::from_secs(10);

fn client_keys() -> CurveKeyPair {
    CurveKeyPair::from_secret_z85(CLIENT_SECRET).unwrap()
}

fn server_keys() -> CurveKeyPair {
    CurveKeyPair::from_secret_z85(SERVER_SECRET).unwrap()
}

fn curve_available() -> bool {
    let ok = zmq::has("curve") == Some(true);
    if !ok {
        eprintln!("libzmq was built without CURVE; skipping");
    }
    ok
}

/// Why a drive loop stopped before it found what it waited for.
#[derive(Debug)]
enum Stop {
    /// The peer closed the TCP connection.
    Closed,
    /// Our codec failed.
    Codec(#[allow(dead_code)] Error),
    /// The deadline passed.
    Timeout,
}

/// A blocking driver: socket reads feed the codec, codec output goes to the socket.
struct Driver {
    conn: Connection,
    stream: TcpStream,
    /// Answer to authentication requests.
    auth: Option<AuthReply>,
    /// Every event seen, in order.
    seen: Vec<Event>,
    /// Every byte received, in order.
    received: Vec<u8>,
}

impl Driver {
    fn new(config: Config, stream: TcpStream) -> Driver {
        stream
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Driver {
            conn: Connection::new(config, Instant::now()).unwrap(),
            stream,
            auth: None,
            seen: Vec::new(),
            received: Vec::new(),
        }
    }

    fn flush(&mut self) {
        while let Some(chunk) = self.conn.poll_transmit() {
            // A peer that hung up makes writes fail; the next read reports it.
            if self.stream.write_all(&chunk).is_err() {
                return;
            }
        }
    }

    /// Runs until `want` picks an event, the deadline passes, or something fails.
    fn wait_for<T>(&mut self, mut want: impl FnMut(&Event) -> Option<T>) -> Result<T, Stop> {
        let deadline = Instant::now() + WAIT;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            self.flush();
            loop {
                match self.conn.poll_event() {
                    Ok(Some(Event::AuthRequest(req))) => {
                        self.seen.push(Event::AuthRequest(req));
                        let reply = self.auth.clone().expect("no authenticator configured");
                        self.conn
                            .handle_auth_reply(Instant::now(), reply)
                            .map_err(Stop::Codec)?;
                    }
                    Ok(Some(ev)) => {
                        let found = want(&ev);
                        self.seen.push(ev);
                        if let Some(found) = found {
                            self.flush();
                            return Ok(found);
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return Err(Stop::Codec(e)),
                }
            }
            self.flush();
            let now = Instant::now();
            if now >= deadline {
                return Err(Stop::Timeout);
            }
            if self.conn.poll_timeout().is_some_and(|t| t <= now) {
                self.conn.handle_timeout(now).map_err(Stop::Codec)?;
                continue;
            }
            match self.stream.read(&mut buf) {
                Ok(0) => return Err(Stop::Closed),
                Ok(n) => {
                    self.received.extend_from_slice(&buf[..n]);
                    self.conn
                        .handle_input(Instant::now(), &buf[..n])
                        .map_err(Stop::Codec)?
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return Err(Stop::Closed),
            }
        }
    }

    fn handshake(&mut self) -> Result<zmtp_codec::Handshake, Stop> {
        self.wait_for(|e| match e {
            Event::HandshakeSucceeded(p) => Some((**p).clone()),
            _ => None,
        })
    }

    fn message(&mut self) -> Result<Message, Stop> {
        self.wait_for(|e| match e {
            Event::Message(m) => Some(m.clone()),
            _ => None,
        })
    }

    /// Keeps the connection serviced (heartbeats) for a while.
    fn idle(&mut self, for_: Duration) {
        let until = Instant::now() + for_;
        while Instant::now() < until {
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) => panic!("peer closed while idle"),
                Ok(n) => self.conn.handle_input(Instant::now(), &buf[..n]).unwrap(),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("read failed: {e}"),
            }
            while let Some(ev) = self.conn.poll_event().unwrap() {
                self.seen.push(ev);
            }
            let now = Instant::now();
            if self.conn.poll_timeout().is_some_and(|t| t <= now) {
                self.conn.handle_timeout(now).unwrap();
            }
            self.flush();
        }
    }
}

/// A libzmq socket bound to an ephemeral loopback port, with its `host:port`.
fn libzmq_bound(ctx: &zmq::Context, kind: zmq::SocketType) -> (zmq::Socket, String) {
    let socket = ctx.socket(kind).unwrap();
    socket.set_linger(0).unwrap();
    socket.set_rcvtimeo(WAIT.as_millis() as i32).unwrap();
    socket.set_sndtimeo(WAIT.as_millis() as i32).unwrap();
    socket.set_curve_server(true).unwrap();
    socket
        .set_curve_secretkey(&server_keys().secret.as_bytes()[..])
        .unwrap();
    socket.bind("tcp://127.0.0.1:0").unwrap();
    let endpoint = socket.get_last_endpoint().unwrap().unwrap();
    let addr = endpoint.trim_start_matches("tcp://").to_owned();
    (socket, addr)
}

fn our_client(kind: SocketType, server_key: [u8; 32]) -> Config {
    Config::new(kind).mechanism(MechanismConfig::curve_client(&client_keys(), server_key))
}

#[test]
fn keys_and_z85_agree_with_libzmq() {
    if !curve_available() {
        return;
    }
    let client = client_keys();
    assert_eq!(client.public_z85(), CLIENT_PUBLIC);
    assert_eq!(server_keys().public_z85(), SERVER_PUBLIC);
    assert_eq!(zmq::z85_encode(&client.public).unwrap(), CLIENT_PUBLIC);
    let (public, secret) = {
        let pair = zmq::CurveKeyPair::new().unwrap();
        (pair.public_key, pair.secret_key)
    };
    let ours = CurveKeyPair::from_secret(zmtp_codec::CurveSecretKey::from_bytes(secret));
    assert_eq!(
        ours.public, public,
        "public key derived as libzmq derives it"
    );
}

/// (a) libzmq REP CURVE server ← our REQ CURVE client.
#[test]
fn our_client_to_libzmq_rep_server() {
    if !curve_available() {
        return;
    }
    let ctx = zmq::Context::new();
    let (rep, addr) = libzmq_bound(&ctx, zmq::REP);
    let server = thread::spawn(move || {
        let request = rep.recv_multipart(0).expect("libzmq REP received nothing");
        let mut reply = b"world:".to_vec();
        reply.extend_from_slice(&request.concat());
        rep.send(&reply[..], 0).unwrap();
        let big = rep.recv_multipart(0).expect("second request");
        rep.send_multipart(&big, 0).unwrap();
        // Dropping the socket (linger 0) could discard the echo: hand it back instead.
        (request, rep)
    });

    let mut us = Driver::new(
        our_client(SocketType::Req, server_keys().public),
        TcpStream::connect(&addr).unwrap(),
    );
    let peer = us.handshake().expect("handshake with libzmq");
    assert_eq!(peer.socket_type, Some(SocketType::Rep));
    // The codec has no REQ envelope logic: the empty delimiter is ours to send.
    let envelope = |parts: &[&str]| parts.iter().map(|p| p.to_string()).collect::<Message>();
    us.conn.send(&envelope(&["", "hello"])).unwrap();
    assert_eq!(us.message().unwrap(), envelope(&["", "world:hello"]));
    // A multipart request with a 64 KiB part, echoed back.
    let big: Message = [Vec::new(), vec![b'x'; 65_536], b"tail".to_vec()]
        .into_iter()
        .map(bytes::Bytes::from)
        .collect();
    us.conn.send(&big).unwrap();
    assert_eq!(us.message().unwrap(), big);
    let (request, _rep) = server.join().unwrap();
    assert_eq!(request, vec![b"hello".to_vec()]);

    // What libzmq put on the wire: its greeting says as-server 0 even as CURVE server;
    // WELCOME and READY are command frames; each MESSAGE is an unflagged frame whose MORE
    // and COMMAND bits travel inside the box.
    assert_eq!(&us.received[12..17], b"CURVE");
    assert_eq!(us.received[32], 0);
    let mut wire = bytes::BytesMut::from(&us.received[64..]);
    let mut next = || {
        frame::decode(&mut wire, Framing::V3, None)
            .unwrap()
            .unwrap()
    };
    let welcome = next();
    assert!(welcome.command && welcome.body.len() == 168);
    let ready = next();
    assert!(ready.command && ready.body.starts_with(b"\x05READY"));
    assert_eq!(&ready.body[6..14], &1u64.to_be_bytes());
    for expected_nonce in 2u64..=5 {
        let m = next();
        assert!(!m.more && !m.command, "outer MESSAGE flags");
        assert_eq!(&m.body[..8], b"\x07MESSAGE");
        assert_eq!(&m.body[8..16], &expected_nonce.to_be_bytes());
    }
}

/// (b) libzmq REQ CURVE client → our REP CURVE server, with heartbeats both ways.
#[test]
fn libzmq_req_client_to_our_rep_server() {
    if !curve_available() {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = thread::spawn(move || {
        let ctx = zmq::Context::new();
        let req = ctx.socket(zmq::REQ).unwrap();
        req.set_linger(0).unwrap();
        req.set_rcvtimeo(WAIT.as_millis() as i32).unwrap();
        req.set_curve_serverkey(&server_keys().public).unwrap();
        req.set_curve_publickey(&client_keys().public).unwrap();
        req.set_curve_secretkey(&client_keys().secret.as_bytes()[..])
            .unwrap();
        req.set_heartbeat_ivl(100).unwrap();
        req.set_heartbeat_ttl(3000).unwrap();
        req.connect(&format!("tcp://{addr}")).unwrap();
        req.send("ping", 0).unwrap();
        req.recv_multipart(0)
    });

    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + WAIT;
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("libzmq did not connect: {e}"),
        }
    };
    stream.set_nonblocking(false).unwrap();
    let mut config =
        Config::new(SocketType::Rep).mechanism(MechanismConfig::curve_server(&server_keys()));
    config.heartbeat_ivl = Some(Duration::from_millis(100));
    let mut us = Driver::new(config, stream);
    us.auth = Some(AuthReply::accept("libzmq-client"));
    let peer = us.handshake().expect("handshake with libzmq");
    assert_eq!(peer.socket_type, Some(SocketType::Req));
    assert_eq!(peer.user_id.as_deref(), Some(&b"libzmq-client"[..]));
    let Some(Event::AuthRequest(req)) = us.seen.first() else {
        panic!("no auth request: {:?}", us.seen)
    };
    assert_eq!(req.credentials[0][..], client_keys().public);
    // REQ sends an empty delimiter first.
    let request = us.message().unwrap();
    assert_eq!(request, ["", "ping"].into_iter().collect::<Message>());
    // Let several PINGs go each way (in MESSAGE boxes) before answering.
    us.idle(Duration::from_millis(450));
    assert!(us.conn.is_active(), "{:?}", us.conn.error());
    us.conn
        .send(&["", "pong"].into_iter().collect::<Message>())
        .unwrap();
    us.flush();
    let reply = client.join().unwrap().expect("libzmq REQ got no reply");
    assert_eq!(reply, vec![b"pong".to_vec()]);
}

/// libzmq SUB → our PUB: SUBSCRIBE travels as a boxed command.
#[test]
fn libzmq_sub_subscribes_through_boxes() {
    if !curve_available() {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let ctx = zmq::Context::new();
    let sub = ctx.socket(zmq::SUB).unwrap();
    sub.set_linger(0).unwrap();
    sub.set_rcvtimeo(WAIT.as_millis() as i32).unwrap();
    sub.set_curve_serverkey(&server_keys().public).unwrap();
    sub.set_curve_publickey(&client_keys().public).unwrap();
    sub.set_curve_secretkey(&client_keys().secret.as_bytes()[..])
        .unwrap();
    sub.set_subscribe(b"news").unwrap();
    sub.connect(&format!("tcp://{addr}")).unwrap();

    let (stream, _) = listener.accept().unwrap();
    let mut us = Driver::new(
        Config::new(SocketType::Pub).mechanism(MechanismConfig::curve_server(&server_keys())),
        stream,
    );
    us.auth = Some(AuthReply::accept(""));
    us.handshake().expect("handshake with libzmq");
    let topic = us
        .wait_for(|e| match e {
            Event::Subscribe(t) => Some(t.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(&topic[..], b"news");
    us.conn.send(&Message::from("news: boxed")).unwrap();
    us.flush();
    assert_eq!(sub.recv_bytes(0).unwrap(), b"news: boxed");
}

/// (c) our client with a wrong server key: libzmq closes, delivers nothing.
#[test]
fn wrong_server_key_fails_against_libzmq() {
    if !curve_available() {
        return;
    }
    let ctx = zmq::Context::new();
    let (rep, addr) = libzmq_bound(&ctx, zmq::REP);
    rep.set_rcvtimeo(1000).unwrap();
    let mut us = Driver::new(
        our_client(SocketType::Req, CurveKeyPair::generate().public),
        TcpStream::connect(&addr).unwrap(),
    );
    match us.handshake() {
        Err(Stop::Closed) => {}
        other => panic!("expected libzmq to hang up, got {other:?}"),
    }
    assert_eq!(us.conn.send(&Message::from("secret")), Err(Error::NotReady));
    assert_eq!(rep.recv_bytes(0), Err(zmq::Error::EAGAIN));
}
