//! Hostile peers against the socket layer's queue bounds (issue 11): raw ZMTP peers over
//! tcp that flood a socket whose user is idle, checked through [`Socket::held_inbound`],
//! the count of messages from peers the socket holds.
//!
//! Synchronised on events (a count reached, a message or a PONG received); the timeouts
//! only guard against hangs, and the short sleeps only pace loops that poll for a count.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use crate::{
    Message, PeerInfo, PubSocket, Socket, SocketKind, SocketOptions, SocketType, SubSocket,
    XPubSocket,
};

/// Guards against hangs; never used to synchronise.
async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(300), f)
        .await
        .expect("test timed out")
}

/// The `i`th topic a hostile peer subscribes to; all the same length, so none is a prefix
/// of another.
fn topic(i: usize) -> Vec<u8> {
    format!("t{i:07}").into_bytes()
}

/// One ZMTP 3.x frame: short or long form.
fn put_frame(buf: &mut BytesMut, flags: u8, body: &[u8]) {
    match u8::try_from(body.len()) {
        Ok(n) => {
            buf.put_u8(flags);
            buf.put_u8(n);
        }
        Err(_) => {
            buf.put_u8(flags | 0x02);
            buf.put_u64(body.len() as u64);
        }
    }
    buf.put_slice(body);
}

/// A command frame: name length, name, data.
fn put_command(buf: &mut BytesMut, name: &[u8], data: &[u8]) {
    let mut body = Vec::with_capacity(1 + name.len() + data.len());
    body.push(name.len() as u8);
    body.extend_from_slice(name);
    body.extend_from_slice(data);
    put_frame(buf, 0x04, &body);
}

/// What a raw peer reads from our socket after the handshake.
#[derive(Debug, PartialEq, Eq)]
enum Frame {
    Command(Bytes),
    Message(Bytes),
}

/// A raw ZMTP 3.1 peer over tcp: NULL handshake by hand, then whatever the test writes.
struct RawPeer {
    reader: RawReader,
    write: OwnedWriteHalf,
}

impl RawPeer {
    /// Connects to `endpoint` (`tcp://host:port`) and completes a NULL handshake as
    /// `socket_type`.
    async fn connect(endpoint: &str, socket_type: &str) -> RawPeer {
        RawPeer::connect_as(endpoint, socket_type, None).await
    }

    /// [`RawPeer::connect`] announcing an `Identity` (a routing id) too.
    async fn connect_as(endpoint: &str, socket_type: &str, identity: Option<&[u8]>) -> RawPeer {
        let addr = endpoint.trim_start_matches("tcp://");
        let stream = TcpStream::connect(addr).await.expect("connect");
        RawPeer::handshake(stream, socket_type, identity).await
    }

    /// Completes a NULL handshake as `socket_type` over `stream`.
    async fn handshake(stream: TcpStream, socket_type: &str, identity: Option<&[u8]>) -> RawPeer {
        let (read, write) = stream.into_split();
        let mut peer = RawPeer {
            reader: RawReader {
                read,
                buf: BytesMut::new(),
            },
            write,
        };
        let mut out = BytesMut::new();
        out.put_u8(0xff);
        out.put_bytes(0, 8);
        out.put_u8(0x7f);
        out.put_slice(&[3, 1]);
        out.put_slice(b"NULL");
        out.put_bytes(0, 16);
        out.put_u8(0); // as-server
        out.put_bytes(0, 31);
        let mut ready = Vec::new();
        ready.push(11);
        ready.extend_from_slice(b"Socket-Type");
        ready.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
        ready.extend_from_slice(socket_type.as_bytes());
        if let Some(id) = identity {
            ready.push(8);
            ready.extend_from_slice(b"Identity");
            ready.extend_from_slice(&(id.len() as u32).to_be_bytes());
            ready.extend_from_slice(id);
        }
        put_command(&mut out, b"READY", &ready);
        peer.write.write_all(&out).await.expect("handshake out");
        let reader = &mut peer.reader;
        while reader.buf.len() < 64 {
            let read = reader.read.read_buf(&mut reader.buf).await.expect("read");
            assert!(read > 0, "our socket closed the connection");
        }
        assert_eq!(reader.buf[0], 0xff, "a ZMTP greeting");
        reader.buf.advance(64);
        match reader.frame().await {
            Frame::Command(body) => assert!(body.starts_with(b"\x05READY"), "{body:?}"),
            other => panic!("expected READY, got {other:?}"),
        }
        peer
    }

    /// Sends `body` as a one-frame message.
    async fn send(&mut self, body: &[u8]) {
        let mut out = BytesMut::new();
        put_frame(&mut out, 0, body);
        self.write.write_all(&out).await.expect("send");
    }

    /// Sends `body` as a one-frame message, closes its side, and reads until our socket
    /// closes the connection too (it has read the message and the end).
    async fn send_and_leave(mut self, body: &[u8]) {
        self.send(body).await;
        self.write.shutdown().await.expect("close");
        while self
            .reader
            .read
            .read_buf(&mut self.reader.buf)
            .await
            .expect("read")
            > 0
        {}
    }

    /// Writes `SUBSCRIBE` for topics `0..n` and then a `PING` with context `end`, in a task
    /// of its own (it blocks while our socket pushes back); returns the read half.
    fn flood_subscriptions(self, n: usize) -> (RawReader, tokio::task::JoinHandle<()>) {
        let RawPeer { reader, mut write } = self;
        let writer = tokio::spawn(async move {
            let mut out = BytesMut::with_capacity(64 * 1024);
            for i in 0..n {
                put_command(&mut out, b"SUBSCRIBE", &topic(i));
                if out.len() >= 60 * 1024 {
                    write.write_all(&out).await.expect("flood");
                    out.clear();
                }
            }
            // PING: TTL 0, context "end". Its PONG means everything before it was decoded.
            put_command(&mut out, b"PING", b"\x00\x00end");
            write.write_all(&out).await.expect("flood");
            // Keep the connection open until the test aborts this task.
            std::future::pending::<()>().await;
        });
        (reader, writer)
    }
}

/// The read half of a [`RawPeer`].
struct RawReader {
    read: OwnedReadHalf,
    buf: BytesMut,
}

impl RawReader {
    /// The next frame our socket sent.
    async fn frame(&mut self) -> Frame {
        loop {
            if let Some(frame) = parse(&mut self.buf) {
                return frame;
            }
            let read = self.read.read_buf(&mut self.buf).await.expect("read");
            assert!(read > 0, "our socket closed the connection");
        }
    }

    /// Reads until the PONG answering the flood's PING; returns the messages read first.
    async fn until_pong(&mut self) -> Vec<Bytes> {
        let mut messages = Vec::new();
        loop {
            match self.frame().await {
                Frame::Command(body) if body.starts_with(b"\x04PONG") => {
                    assert_eq!(&body[5..], b"end");
                    return messages;
                }
                Frame::Command(_) => {}
                Frame::Message(body) => messages.push(body),
            }
        }
    }
}

/// One whole frame off the front of `buf`, if there is one.
fn parse(buf: &mut BytesMut) -> Option<Frame> {
    let flags = *buf.first()?;
    let (header, len) = if flags & 0x02 != 0 {
        let size: [u8; 8] = buf.get(1..9)?.try_into().ok()?;
        (9, u64::from_be_bytes(size) as usize)
    } else {
        (2, usize::from(*buf.get(1)?))
    };
    if buf.len() < header + len {
        return None;
    }
    buf.advance(header);
    let body = buf.split_to(len).freeze();
    Some(if flags & 0x04 != 0 {
        Frame::Command(body)
    } else {
        Frame::Message(body)
    })
}

/// Waits until `socket` holds at least `n` messages from peers, checking at every look
/// that it never holds more than `bound`.
async fn held_reaches<T: SocketKind>(socket: &mut Socket<T>, n: usize, bound: usize) {
    loop {
        let held = socket.held_inbound();
        assert!(
            held <= bound,
            "the socket holds {held} messages, bound {bound}"
        );
        if held >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn options(rcvhwm: usize, sndhwm: usize) -> SocketOptions {
    SocketOptions {
        rcvhwm,
        sndhwm,
        ..SocketOptions::default()
    }
}

const HWM: usize = 1000;

/// A raw SUB floods an idle XPUB with a million distinct subscriptions: the XPUB holds at
/// most one HWM per peer (plus one for its user), an ordinary subscriber is still heard
/// and served, and once the user reads, every subscription arrives, in order, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xpub_holds_a_subscription_flood_to_its_hwm_and_loses_none() {
    const N: usize = 1_000_000;
    within(async {
        let mut xpub = XPubSocket::with_options(options(HWM, HWM)).unwrap();
        let endpoint = xpub.bind("tcp://127.0.0.1:0").await.unwrap();
        let raw = RawPeer::connect(&endpoint, "SUB").await;
        let (mut raw, writer) = raw.flood_subscriptions(N);

        // The user is idle: the flood stops at the raw peer's inbound pipe.
        held_reaches(&mut xpub, HWM, HWM).await;

        // An ordinary subscriber's subscription still reaches the socket.
        let mut sub = SubSocket::new();
        sub.connect(&endpoint).await.unwrap();
        sub.subscribe("news").unwrap();
        held_reaches(&mut xpub, HWM + 1, HWM + 1).await;

        // The user reads: subscriptions come one pipe after the other, each held back
        // to the HWM, and the ordinary subscriber's comes within the first round.
        let bound = 3 * HWM;
        let mut next = 0;
        let mut news_at = None;
        while next < N {
            let msg = xpub.recv().await.unwrap();
            let body = &msg[0];
            assert_eq!(body[0], 1, "a subscription");
            if &body[1..] == b"news" {
                assert!(news_at.is_none(), "news subscribed once");
                news_at = Some(next);
                // Served while the flood is still being read.
                xpub.send(Message::from("news: flood under way"))
                    .await
                    .unwrap();
                let got = sub.recv().await.unwrap();
                assert_eq!(&got[0][..], b"news: flood under way");
                continue;
            }
            assert_eq!(&body[1..], &topic(next)[..], "in order, none lost");
            next += 1;
            if next % 997 == 0 {
                let held = xpub.held_inbound();
                assert!(
                    held <= bound,
                    "the socket holds {held} messages, bound {bound}"
                );
            }
        }
        let news_at = news_at.expect("the ordinary subscription arrived");
        assert!(
            news_at <= 2 * HWM,
            "news waited behind {news_at} flooded ones"
        );
        // Everything the raw peer sent was decoded, its PING last.
        assert_eq!(raw.until_pong().await, Vec::<Bytes>::new());
        assert!(xpub.try_recv().is_err(), "nothing more");
        writer.abort();
    })
    .await;
}

/// A raw SUB floods an idle PUB with distinct subscriptions: the PUB holds at most one HWM
/// per peer, an ordinary subscriber is served as soon as the user sends, and every
/// flooded topic ends up subscribed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_holds_a_subscription_flood_to_its_hwm_and_loses_none() {
    const N: usize = 200_000;
    within(async {
        // sndhwm 0: nothing the PUB sends to the raw peer is dropped, so every topic can
        // be checked by a message.
        let mut publisher = PubSocket::with_options(options(HWM, 0)).unwrap();
        let endpoint = publisher.bind("tcp://127.0.0.1:0").await.unwrap();
        let raw = RawPeer::connect(&endpoint, "SUB").await;
        let (mut raw, writer) = raw.flood_subscriptions(N);

        held_reaches(&mut publisher, HWM, HWM).await;
        let mut sub = SubSocket::new();
        sub.connect(&endpoint).await.unwrap();
        sub.subscribe("news").unwrap();
        held_reaches(&mut publisher, HWM + 1, HWM + 1).await;

        // The first send reads every pipe: the ordinary subscriber is served at once.
        publisher.send(Message::from("news: first")).await.unwrap();
        assert_eq!(&sub.recv().await.unwrap()[0][..], b"news: first");

        // Each send reads on through the flood; the PONG says all of it was decoded.
        let bound = 2 * HWM;
        let (pong_tx, mut pong_rx) = tokio::sync::oneshot::channel();
        let reader = tokio::spawn(async move {
            let before = raw.until_pong().await;
            let _ = pong_tx.send(());
            (raw, before)
        });
        loop {
            publisher.send(Message::from("news: more")).await.unwrap();
            let held = publisher.held_inbound();
            assert!(
                held <= bound,
                "the publisher holds {held} messages, bound {bound}"
            );
            if pong_rx.try_recv().is_ok() {
                break;
            }
            tokio::task::yield_now().await;
        }
        let (mut raw, before) = reader.await.unwrap();
        assert!(
            before.is_empty(),
            "the raw peer subscribed to nothing sent yet"
        );
        let (frames_tx, mut frames) = tokio::sync::mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            loop {
                if frames_tx.send(raw.frame().await).is_err() {
                    return;
                }
            }
        });
        // Sends the last topic until it matches: its subscription, read last, is applied.
        let last = Frame::Message(Bytes::from(topic(N - 1)));
        loop {
            publisher.send(Message::from(topic(N - 1))).await.unwrap();
            match frames.try_recv() {
                Ok(frame) => {
                    assert_eq!(frame, last);
                    break;
                }
                Err(_) => tokio::task::yield_now().await,
            }
        }
        // Every topic of the flood is subscribed: one message each, all delivered.
        for i in 0..N {
            let mut body = topic(i);
            body.extend_from_slice(b"/check");
            publisher.send(Message::from(body)).await.unwrap();
        }
        let mut i = 0;
        while i < N {
            let frame = frames.recv().await.expect("the raw peer reads on");
            if frame == last {
                continue; // the probe, sent again before the first copy was seen
            }
            let Frame::Message(body) = frame else {
                panic!("a message, got {frame:?}");
            };
            assert_eq!(
                &body[..],
                format!("t{i:07}/check").as_bytes(),
                "topic {i} subscribed"
            );
            i += 1;
        }
        reader.abort();
        writer.abort();
    })
    .await;
}

/// Raw PUSH peers connect one after the other, each sending one message and leaving, to
/// a PULL whose user is idle: each leaves its pipe and message in the socket's mailbox,
/// so the listener stops accepting at `backlog` of them (one more may be in its
/// handshake); once the user reads, every message arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_socket_takes_backlog_peers_that_come_and_go() {
    const BACKLOG: usize = 5;
    const PEERS: usize = 30;
    within(async {
        let mut pull = crate::PullSocket::with_options(SocketOptions {
            backlog: BACKLOG as u32,
            ..SocketOptions::default()
        })
        .unwrap();
        let endpoint = pull.bind("tcp://127.0.0.1:0").await.unwrap();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let churner = tokio::spawn({
            let done = done.clone();
            async move {
                for i in 0..PEERS {
                    RawPeer::connect(&endpoint, "PUSH")
                        .await
                        .send_and_leave(format!("peer {i}").as_bytes())
                        .await;
                    done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
        });
        let bound = BACKLOG + 1;
        loop {
            let waiting = pull.waiting_peers();
            assert!(
                waiting <= bound,
                "{waiting} peers wait for the socket, bound {bound}"
            );
            if done.load(std::sync::atomic::Ordering::SeqCst) >= BACKLOG {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut got = Vec::new();
        while got.len() < PEERS {
            let waiting = pull.waiting_peers();
            assert!(
                waiting <= bound,
                "{waiting} peers wait for the socket, bound {bound}"
            );
            let msg = pull.recv().await.unwrap();
            got.push(String::from_utf8(msg[0].to_vec()).unwrap());
        }
        got.sort();
        let mut want: Vec<String> = (0..PEERS).map(|i| format!("peer {i}")).collect();
        want.sort();
        assert_eq!(got, want, "every peer's message arrives");
        churner.await.unwrap();
    })
    .await;
}

/// A raw PUB that accepts our SUB, completes the handshake and drops the connection, over
/// and over, while the SUB's user is idle: the SUB's mailbox keeps at most a connect, a
/// disconnect and a connect for it, not one or two commands per round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_peer_leaves_a_bounded_mailbox() {
    const ROUNDS: usize = 50;
    within(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("tcp://{}", listener.local_addr().unwrap());
        let mut sub = SubSocket::with_options(SocketOptions {
            reconnect_ivl: Some(Duration::from_millis(1)),
            ..SocketOptions::default()
        })
        .unwrap();
        sub.subscribe("news").unwrap();
        sub.connect(&endpoint).await.unwrap();
        assert_eq!(sub.mail_len(), 0, "connect took its own attach");
        for round in 0..ROUNDS {
            // Each round ends with a disconnect posted before the SUB reconnects.
            let (stream, _) = listener.accept().await.unwrap();
            drop(RawPeer::handshake(stream, "PUB", None).await);
            let mail = sub.mail_len();
            assert!(
                mail <= 3,
                "{mail} commands in the mailbox after {round} rounds"
            );
        }
        // The SUB still works once its user comes back (a pending recv takes the mail):
        // it subscribes on the next connection.
        let (stream, _) = listener.accept().await.unwrap();
        let mut peer = RawPeer::handshake(stream, "PUB", None).await;
        tokio::select! {
            frame = peer.reader.frame() => match frame {
                Frame::Command(body) => assert_eq!(&body[..], b"\x09SUBSCRIBEnews"),
                other => panic!("expected SUBSCRIBE, got {other:?}"),
            },
            r = sub.recv() => panic!("nothing was published: {r:?}"),
        }
    })
    .await;
}

/// A peer that reconnects over and over (through the transport API, no bytes read from
/// the pipe) makes the SUB resend its subscriptions each time; what was queued for the old
/// connection is dropped first, so the pipe holds one set, not one per reconnect.
#[test]
fn resubscribing_after_a_hiccup_replaces_what_was_queued() {
    const TOPICS: usize = 100;
    let mut sub = SubSocket::new();
    for i in 0..TOPICS {
        sub.subscribe(topic(i)).unwrap();
    }
    let mut pipes = sub.handle().attach(None, None).unwrap();
    for round in 0..10 {
        pipes
            .link
            .handshake(PeerInfo::new(SocketType::Pub))
            .unwrap();
        sub.peer_count();
        // Round 0: the set sent at attach; then the set sent again at the reconnect.
        assert_eq!(pipes.outbound.len(), TOPICS, "round {round}");
        pipes.disconnected();
        sub.peer_count();
    }
    pipes
        .link
        .handshake(PeerInfo::new(SocketType::Pub))
        .unwrap();
    sub.peer_count();
    let mut outbound = pipes.outbound;
    let mut got = Vec::new();
    while let crate::pipe::TryPop::Message(m) = outbound.try_pop() {
        got.push(m[0][1..].to_vec());
    }
    let want: Vec<Vec<u8>> = (0..TOPICS).map(topic).collect();
    assert_eq!(got, want, "every subscription, once");
}

/// A reconnect keeps what the transport took from the pipe and did not send, and what is
/// still queued, but for SUB/XSUB subscriptions (resent whole): a DEALER's messages and an
/// XSUB's upstream messages go on the next connection, in order, none lost, and the HWM
/// counts exactly what is left.
#[test]
fn a_reconnect_keeps_every_message_but_stale_subscriptions() {
    use crate::pipe::TryPop;
    fn pop(outbound: &mut crate::pipe::PipeReader) -> Vec<Message> {
        let mut got = Vec::new();
        while let TryPop::Message(m) = outbound.try_pop() {
            got.push(m);
        }
        got
    }
    let publisher = || PeerInfo::new(SocketType::Pub);
    let up = |i: u8| Message::from(vec![b'u', i]);

    let mut dealer = crate::DealerSocket::with_options(options(0, 4)).unwrap();
    let mut pipes = dealer.handle().attach(None, None).unwrap();
    for i in 0..4 {
        dealer.try_send(up(i)).unwrap();
    }
    assert_eq!(pipes.outbound.try_pop(), TryPop::Message(up(0)));
    pipes.disconnected();
    pipes
        .link
        .handshake(PeerInfo::new(SocketType::Router))
        .unwrap();
    assert!(dealer.try_send(up(4)).is_ok(), "room for the one sent");
    assert!(dealer.try_send(up(5)).is_err(), "three taken, one queued");
    assert_eq!(pop(&mut pipes.outbound), (1..5).map(up).collect::<Vec<_>>());

    let mut xsub = crate::XSubSocket::with_options(options(0, 4)).unwrap();
    let mut pipes = xsub.handle().attach(Some(publisher()), None).unwrap();
    xsub.try_send(Message::from("\x01kept")).unwrap();
    xsub.try_send(up(0)).unwrap();
    xsub.try_send(Message::from("\x01stale")).unwrap();
    // The reader takes the queue: the subscribe to `stale` is taken, not sent.
    assert_eq!(
        pipes.outbound.try_pop(),
        TryPop::Message(Message::from("\x01kept"))
    );
    xsub.try_send(Message::from("\x00stale")).unwrap();
    xsub.try_send(up(1)).unwrap();
    pipes.disconnected();
    assert_eq!(pipes.outbound.len(), 2, "the upstream messages");
    pipes.link.handshake(publisher()).unwrap();
    // The HWM (4) counts the two left and the subscription sent again: room for one.
    xsub.try_send(up(2)).unwrap();
    xsub.try_send(up(3)).unwrap();
    let want = [up(0), up(1), Message::from("\x01kept"), up(2)];
    assert_eq!(pop(&mut pipes.outbound), want);
}

/// A subscription command as a raw peer reads it: its name and topic, long topics by their
/// length (so that a failed comparison prints something readable).
fn describe(frame: Frame) -> String {
    let Frame::Command(body) = frame else {
        panic!("a SUB sends only commands, got {frame:?}");
    };
    let name_len = usize::from(body[0]);
    let name = String::from_utf8_lossy(&body[1..1 + name_len]);
    let topic = &body[1 + name_len..];
    if topic.len() > 32 {
        format!("{name} <{} bytes>", topic.len())
    } else {
        format!("{name} {}", String::from_utf8_lossy(topic))
    }
}

/// A reconnected SUB sends its subscriptions and nothing its session had taken from the
/// pipe for the old connection (as libzmq, whose new connection starts on a fresh pipe).
///
/// A raw PUB that reads nothing after the handshake leaves the session stuck behind a
/// subscription too long for the kernel's buffers, with the rest of its first batch taken
/// from the pipe and not encoded: among them a subscribe to `T` and a cancel of `U`. The
/// user then cancels `T` and subscribes to `U` again, and the PUB drops the connection.
/// On the next connection the PUB gets exactly the SUB's subscriptions, each once, and no
/// cancel: a stale subscribe to `T` would have it send `T` forever to a SUB that drops it,
/// a stale cancel of `U` after `U`'s subscribe would lose `U`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnected_sub_sends_nothing_taken_for_the_old_connection() {
    // More than the session's batch (256 messages) follow the long one, so the session
    // stops with them taken: it checks its write backlog only between batches.
    const SMALL: usize = 600;
    // Far more than the kernel buffers for a connection whose reader is idle (the PUB's
    // receive buffer is set small; the SUB's send buffer grows to tcp_wmem's 4 MiB).
    const LONG: usize = 16 << 20;
    within(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(16 * 1024).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(4).unwrap();
        let endpoint = format!("tcp://{}", listener.local_addr().unwrap());
        let mut sub = SubSocket::with_options(SocketOptions {
            reconnect_ivl: Some(Duration::from_millis(1)),
            ..SocketOptions::default()
        })
        .unwrap();
        sub.connect(&endpoint).await.unwrap();
        // Queued before the handshake, so the session takes them all at once.
        let long = vec![b'L'; LONG];
        sub.subscribe(&long).unwrap();
        sub.subscribe("U").unwrap();
        for i in 0..SMALL {
            sub.subscribe(topic(i)).unwrap();
        }
        sub.subscribe("T").unwrap();
        sub.unsubscribe("U").unwrap();

        let (stream, _) = listener.accept().await.unwrap();
        let mut peer = RawPeer::handshake(stream, "PUB", None).await;
        // The long subscription's header arrives: the session took the queue and is stuck
        // writing it.
        let reader = &mut peer.reader;
        while reader.buf.len() < 19 {
            let read = reader.read.read_buf(&mut reader.buf).await.expect("read");
            assert!(read > 0, "our socket closed the connection");
        }
        assert_eq!(reader.buf[0], 0x06, "a long command");
        assert_eq!(&reader.buf[9..19], b"\x09SUBSCRIBE");
        sub.unsubscribe("T").unwrap();
        sub.subscribe("U").unwrap();
        drop(peer);

        let (stream, _) = listener.accept().await.unwrap();
        let mut peer = RawPeer::handshake(stream, "PUB", None).await;
        let mut want: Vec<String> = (0..SMALL)
            .map(|i| format!("SUBSCRIBE {}", String::from_utf8_lossy(&topic(i))))
            .collect();
        want.push(format!("SUBSCRIBE <{LONG} bytes>"));
        want.push("SUBSCRIBE U".to_owned());
        let mut got = Vec::new();
        // A pending recv has the socket take the reconnect from its mailbox.
        tokio::select! {
            () = async {
                while got.len() < want.len() {
                    got.push(describe(peer.reader.frame().await));
                }
            } => {}
            r = sub.recv() => panic!("nothing was published: {r:?}"),
        }
        // Whatever came before the subscriptions resent for the reconnect came first: a
        // last subscription marks the end.
        sub.subscribe("Z").unwrap();
        loop {
            match describe(peer.reader.frame().await) {
                end if end == "SUBSCRIBE Z" => break,
                other => got.push(other),
            }
        }
        got.sort();
        want.sort();
        let stale: Vec<&String> = got.iter().filter(|g| !want.contains(g)).collect();
        assert_eq!(stale, Vec::<&String>::new(), "sent for the old connection");
        assert_eq!(got, want, "every subscription, once");
    })
    .await;
}

/// Raw PULL peers send to a PUSH (which never reads its peers) and leave: the PUSH forgets
/// each, with what it sent, instead of keeping its pipe for a read that never comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_forgets_peers_that_sent_to_it_and_left() {
    const PEERS: usize = 20;
    within(async {
        let mut push = crate::PushSocket::new();
        let endpoint = push.bind("tcp://127.0.0.1:0").await.unwrap();
        for i in 0..PEERS {
            RawPeer::connect(&endpoint, "PULL")
                .await
                .send_and_leave(format!("unwanted {i}").as_bytes())
                .await;
        }
        // Each detach follows its connection's close closely: wait for the last.
        while push.peer_count() > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(push.held_inbound(), 0);
    })
    .await;
}

/// A raw DEALER takes a routing id already in use: the ROUTER ignores it (as libzmq) and
/// never reads it, so when it leaves after sending, it is forgotten with what it sent,
/// while the first holder of the id is still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_forgets_an_ignored_duplicate_that_sent_and_left() {
    within(async {
        let mut router = crate::RouterSocket::new();
        let endpoint = router.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut first = RawPeer::connect_as(&endpoint, "DEALER", Some(b"dup")).await;
        while router.peer_count() < 1 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        RawPeer::connect_as(&endpoint, "DEALER", Some(b"dup"))
            .await
            .send_and_leave(b"from the duplicate")
            .await;
        // The duplicate was attached (its message reached its pipe) and is gone again.
        while router.peer_count() != 1 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(router.held_inbound(), 0, "nothing kept from the duplicate");
        // The first holder of the id still talks both ways.
        first.send(b"from the first").await;
        let got = router.recv().await.unwrap();
        assert_eq!(&got[0][..], b"dup");
        assert_eq!(&got[1][..], b"from the first");
        router
            .send(
                [b"dup".to_vec(), b"back".to_vec()]
                    .into_iter()
                    .collect::<Message>(),
            )
            .await
            .unwrap();
        assert_eq!(
            first.reader.frame().await,
            Frame::Message(Bytes::from_static(b"back"))
        );
    })
    .await;
}
