//! Subscriptions with 1 MiB topics (issue 11): a peer that subscribes, cancels,
//! subscribes again and leaves must not take the socket down (it used to overflow the
//! stack: the trie recursed once per topic byte), and the socket must go on serving an
//! ordinary subscriber. Multi-thread runtime, so the work runs on Tokio's worker threads
//! (2 MiB stacks); tcp on 127.0.0.1.
#![allow(clippy::unwrap_used)]

mod common;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use zmq_async::{Error, Message, PubSocket, SubSocket, XPubSocket, XSubSocket};

const TCP: &str = "tcp://127.0.0.1:0";

/// A 1 MiB topic (not all one byte, so that it is not only a prefix run).
fn big_topic() -> Vec<u8> {
    let mut t: Vec<u8> = (0..1 << 20).map(|i| b'a' + (i % 7) as u8).collect();
    t[0] = b'T';
    t
}

fn with_suffix(topic: &[u8], suffix: &str) -> Message {
    let mut body = topic.to_vec();
    body.extend_from_slice(suffix.as_bytes());
    Message::from(body)
}

fn command(op: u8, topic: &[u8]) -> Message {
    let mut body = vec![op];
    body.extend_from_slice(topic);
    Message::from(body)
}

/// Runs `body` in a task on the runtime's worker threads, failing on a hang or a panic.
async fn on_worker<F>(body: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    within(tokio::spawn(body)).await.unwrap();
}

/// Drives `publisher` (through `peer_count`, which runs its housekeeping) until it has
/// `n` peers.
async fn wait_peers(publisher: &mut impl PeerCount, n: usize) {
    while publisher.peers() != n {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

trait PeerCount {
    fn peers(&mut self) -> usize;
}
impl PeerCount for PubSocket {
    fn peers(&mut self) -> usize {
        self.peer_count()
    }
}
impl PeerCount for XPubSocket {
    fn peers(&mut self) -> usize {
        self.peer_count()
    }
}

type BoxFut<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;
/// How the tests send from a PUB or an XPUB.
type SendFn<S> = for<'a> fn(&'a mut S, Message) -> BoxFut<'a>;
/// How the tests take a message, if one is there, from a SUB or an XSUB.
type TryRecvFn<R> = fn(&mut R) -> Option<Message>;

/// Sends `msg` until `sub` receives it (the subscription is in force once one gets
/// through); returns what arrived before it. Copies sent meanwhile may still arrive.
async fn send_until_received<S, R>(
    publisher: &mut S,
    sub: &mut R,
    msg: &Message,
    send: SendFn<S>,
    try_recv: TryRecvFn<R>,
) -> Vec<Message> {
    let mut others = Vec::new();
    loop {
        send(publisher, msg.clone()).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        while let Some(got) = try_recv(sub) {
            if got == *msg {
                return others;
            }
            others.push(got);
        }
    }
}

fn pub_send(p: &mut PubSocket, m: Message) -> BoxFut<'_> {
    Box::pin(async move { p.send(m).await.unwrap() })
}
fn xpub_send(p: &mut XPubSocket, m: Message) -> BoxFut<'_> {
    Box::pin(async move { p.send(m).await.unwrap() })
}
fn sub_try_recv(s: &mut SubSocket) -> Option<Message> {
    match s.try_recv() {
        Ok(m) => Some(m),
        Err(Error::WouldBlock) => None,
        Err(e) => panic!("recv: {e}"),
    }
}
fn xsub_try_recv(s: &mut XSubSocket) -> Option<Message> {
    match s.try_recv() {
        Ok(m) => Some(m),
        Err(Error::WouldBlock) => None,
        Err(e) => panic!("recv: {e}"),
    }
}

/// An ordinary SUB on `endpoint`, subscribed to `ok`, gets what it subscribed to and
/// nothing else from the publisher after the big subscriber left.
async fn ordinary_subscriber_is_served<S>(publisher: &mut S, endpoint: &str, send: SendFn<S>) {
    let mut sub = SubSocket::new();
    sub.subscribe("ok").unwrap();
    sub.connect(endpoint).await.unwrap();
    let topic = big_topic();
    let others = send_until_received(
        publisher,
        &mut sub,
        &Message::from("ok: first"),
        send,
        sub_try_recv,
    )
    .await;
    assert!(others.iter().all(|m| m[0].starts_with(b"ok")), "{others:?}");
    // In order on one connection: if the filter let "no" or the big topic through,
    // they would arrive before "ok: last".
    send(publisher, Message::from("no")).await;
    send(publisher, with_suffix(&topic, "!")).await;
    send(publisher, Message::from("ok: last")).await;
    loop {
        let got = within(sub.recv()).await.unwrap();
        if got == Message::from("ok: last") {
            break;
        }
        assert_eq!(
            got,
            Message::from("ok: first"),
            "only copies of the sync message"
        );
    }
}

async fn big_subscriber_comes_and_goes<S: PeerCount>(
    publisher: &mut S,
    endpoint: &str,
    send: SendFn<S>,
) {
    let topic = big_topic();
    let mut big = SubSocket::new();
    big.connect(endpoint).await.unwrap();
    big.subscribe(&topic).unwrap();
    send_until_received(
        publisher,
        &mut big,
        &with_suffix(&topic, "1"),
        send,
        sub_try_recv,
    )
    .await;
    big.unsubscribe(&topic).unwrap();
    big.subscribe(&topic).unwrap();
    send_until_received(
        publisher,
        &mut big,
        &with_suffix(&topic, "2"),
        send,
        sub_try_recv,
    )
    .await;
    drop(big);
    wait_peers(publisher, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_survives_a_subscriber_with_a_1_mib_topic() {
    on_worker(async {
        let mut publisher = PubSocket::new();
        let endpoint = publisher.bind(TCP).await.unwrap();
        big_subscriber_comes_and_goes(&mut publisher, &endpoint, pub_send).await;
        ordinary_subscriber_is_served(&mut publisher, &endpoint, pub_send).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xpub_survives_a_subscriber_with_a_1_mib_topic_and_reports_it() {
    on_worker(async {
        let mut xpub = XPubSocket::new();
        let endpoint = xpub.bind(TCP).await.unwrap();
        big_subscriber_comes_and_goes(&mut xpub, &endpoint, xpub_send).await;
        let topic = big_topic();
        // Subscribe, cancel, subscribe, and the cancel of the detach, in order.
        for op in [1, 0, 1, 0] {
            assert_eq!(within(xpub.recv()).await.unwrap(), command(op, &topic));
        }
        assert!(matches!(xpub.try_recv(), Err(Error::WouldBlock)));
        ordinary_subscriber_is_served(&mut xpub, &endpoint, xpub_send).await;
        assert_eq!(within(xpub.recv()).await.unwrap(), command(1, b"ok"));
    })
    .await;
}

/// A publisher whose subscriber's own trie holds a 1 MiB topic: the SUB (or XSUB)
/// subscribes, cancels and subscribes again, sends it all to a second publisher that
/// connects later, loses the first publisher, and still filters right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_and_xsub_keep_a_1_mib_subscription() {
    on_worker(async {
        let topic = big_topic();
        for xsub in [false, true] {
            let mut p1 = PubSocket::new();
            let e1 = p1.bind(TCP).await.unwrap();
            let mut p2 = PubSocket::new();
            let e2 = p2.bind(TCP).await.unwrap();
            let mut s = Subscriber::new(xsub);
            s.subscribe(&topic, true).await;
            s.subscribe(b"ok", true).await;
            s.connect(&e1).await;
            s.sync(&mut p1, &with_suffix(&topic, "1")).await;
            s.subscribe(&topic, false).await;
            // Whatever the publisher still thinks, our own filter drops the big topic.
            p1.send(with_suffix(&topic, "2")).await.unwrap();
            p1.send(Message::from("ok: 2")).await.unwrap();
            s.recv_until(&Message::from("ok: 2"), &with_suffix(&topic, "2"))
                .await;
            s.subscribe(&topic, true).await;
            s.sync(&mut p1, &with_suffix(&topic, "3")).await;
            // A publisher that connects later gets the 1 MiB subscription too.
            s.connect(&e2).await;
            s.sync(&mut p2, &with_suffix(&topic, "4")).await;
            drop(p1);
            s.sync(&mut p2, &Message::from("ok: 5")).await;
            p2.send(Message::from("no")).await.unwrap();
            p2.send(with_suffix(&topic, "6")).await.unwrap();
            s.recv_until(&with_suffix(&topic, "6"), &Message::from("no"))
                .await;
            drop(s);
        }
    })
    .await;
}

/// A SUB or an XSUB, with the same calls.
enum Subscriber {
    Sub(SubSocket),
    XSub(XSubSocket),
}

impl Subscriber {
    fn new(xsub: bool) -> Self {
        if xsub {
            Subscriber::XSub(XSubSocket::new())
        } else {
            Subscriber::Sub(SubSocket::new())
        }
    }
    async fn subscribe(&mut self, topic: &[u8], on: bool) {
        match self {
            Subscriber::Sub(s) if on => s.subscribe(topic).unwrap(),
            Subscriber::Sub(s) => s.unsubscribe(topic).unwrap(),
            Subscriber::XSub(s) => s.send(command(u8::from(on), topic)).await.unwrap(),
        }
    }
    async fn connect(&mut self, endpoint: &str) {
        match self {
            Subscriber::Sub(s) => s.connect(endpoint).await.unwrap(),
            Subscriber::XSub(s) => s.connect(endpoint).await.unwrap(),
        }
    }
    async fn recv(&mut self) -> Message {
        match self {
            Subscriber::Sub(s) => within(s.recv()).await.unwrap(),
            Subscriber::XSub(s) => within(s.recv()).await.unwrap(),
        }
    }
    /// Receives until `want`; asserts that `unwanted` did not come first.
    async fn recv_until(&mut self, want: &Message, unwanted: &Message) {
        loop {
            let got = self.recv().await;
            if got == *want {
                return;
            }
            assert!(got != *unwanted, "filtered out: {}", got[0].len());
        }
    }
    /// Sends `msg` from `publisher` until it arrives.
    async fn sync(&mut self, publisher: &mut PubSocket, msg: &Message) {
        match self {
            Subscriber::Sub(s) => {
                send_until_received(publisher, s, msg, pub_send, sub_try_recv).await;
            }
            Subscriber::XSub(s) => {
                send_until_received(publisher, s, msg, pub_send, xsub_try_recv).await;
            }
        }
    }
}

/// ZMTP 3.1 bytes of a raw peer: NULL greeting, READY as a SUB, and commands.
mod wire {
    pub fn greeting() -> Vec<u8> {
        let mut g = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 1];
        g.extend_from_slice(b"NULL");
        g.resize(64, 0);
        g
    }
    /// A command frame (long form when the body needs it).
    pub fn command(name: &str, data: &[u8]) -> Vec<u8> {
        let mut body = vec![name.len() as u8];
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(data);
        let mut frame = if body.len() > 255 {
            let mut f = vec![0x06];
            f.extend_from_slice(&(body.len() as u64).to_be_bytes());
            f
        } else {
            vec![0x04, body.len() as u8]
        };
        frame.extend_from_slice(&body);
        frame
    }
    pub fn ready_sub() -> Vec<u8> {
        let mut props = vec![11];
        props.extend_from_slice(b"Socket-Type");
        props.extend_from_slice(&3u32.to_be_bytes());
        props.extend_from_slice(b"SUB");
        command("READY", &props)
    }
}

/// Reads frames (after the peer's greeting) and tells `seen` when a message frame
/// equal to `want` arrives; keeps reading (and discarding) until the connection ends.
async fn read_frames(mut rd: OwnedReadHalf, want: Vec<u8>, seen: oneshot::Sender<()>) {
    let mut greeting = [0u8; 64];
    if rd.read_exact(&mut greeting).await.is_err() {
        return;
    }
    let mut seen = Some(seen);
    loop {
        let Ok(flags) = rd.read_u8().await else {
            return;
        };
        let len = if flags & 0x02 != 0 {
            rd.read_u64().await.unwrap_or(0) as usize
        } else {
            usize::from(rd.read_u8().await.unwrap_or(0))
        };
        let mut body = vec![0u8; len];
        if rd.read_exact(&mut body).await.is_err() {
            return;
        }
        if flags & 0x04 == 0 && body == want {
            if let Some(tx) = seen.take() {
                let _ = tx.send(());
            }
        }
    }
}

/// A hostile raw peer: greeting, READY (SUB), SUBSCRIBE with a 1 MiB topic (long frame),
/// then, once a message on that topic arrived, CANCEL and SUBSCRIBE again, then gone.
async fn raw_big_subscriber<S: PeerCount>(publisher: &mut S, endpoint: &str, send: SendFn<S>) {
    let topic = big_topic();
    let addr = endpoint.strip_prefix("tcp://").unwrap();
    let stream = TcpStream::connect(addr).await.unwrap();
    let (rd, mut wr) = stream.into_split();
    let probe = with_suffix(&topic, "1");
    let (tx, mut seen) = oneshot::channel();
    let reader = tokio::spawn(read_frames(rd, probe[0].to_vec(), tx));
    let mut out = wire::greeting();
    out.extend(wire::ready_sub());
    out.extend(wire::command("SUBSCRIBE", &topic));
    wr.write_all(&out).await.unwrap();
    loop {
        send(publisher, probe.clone()).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        if seen.try_recv().is_ok() {
            break;
        }
    }
    let mut out = wire::command("CANCEL", &topic);
    out.extend(wire::command("SUBSCRIBE", &topic));
    wr.write_all(&out).await.unwrap();
    drop(wr);
    reader.abort();
    let _ = reader.await;
    wait_peers(publisher, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_survives_a_raw_peer_with_a_1_mib_subscribe() {
    on_worker(async {
        let mut publisher = PubSocket::new();
        let endpoint = publisher.bind(TCP).await.unwrap();
        raw_big_subscriber(&mut publisher, &endpoint, pub_send).await;
        ordinary_subscriber_is_served(&mut publisher, &endpoint, pub_send).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xpub_reports_a_raw_peers_1_mib_subscribe_and_its_cancel() {
    on_worker(async {
        let mut xpub = XPubSocket::new();
        let endpoint = xpub.bind(TCP).await.unwrap();
        raw_big_subscriber(&mut xpub, &endpoint, xpub_send).await;
        let topic = big_topic();
        // The peer is detached (wait_peers), so every report is queued: the SUBSCRIBE,
        // then CANCEL and SUBSCRIBE again unless the connection was gone before the XPUB
        // read them, then the cancel of the detach if the topic was subscribed then.
        let mut reports = Vec::new();
        while let Ok(m) = xpub.try_recv() {
            reports.push(m);
        }
        let (sub, cancel) = (command(1, &topic), command(0, &topic));
        assert!(
            reports == [sub.clone(), cancel.clone()]
                || reports == [sub.clone(), cancel.clone(), sub, cancel],
            "{} reports",
            reports.len()
        );
        assert!(matches!(xpub.try_recv(), Err(Error::WouldBlock)));
        ordinary_subscriber_is_served(&mut xpub, &endpoint, xpub_send).await;
        assert_eq!(within(xpub.recv()).await.unwrap(), command(1, b"ok"));
    })
    .await;
}
