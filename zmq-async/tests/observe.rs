//! Counters (`Socket::stats`), monitors over ipc and inproc, and the socket's tracing span.
#![allow(clippy::unwrap_used)]

mod common;
use std::sync::{Arc, Mutex};

use common::*;
use futures::StreamExt;
use zmq_async::{EventKind, Events, PubSocket, PullSocket, PushSocket, SocketOptions, SubSocket};

#[tokio::test]
async fn stats_count_messages_and_bytes_over_tcp() {
    within(async {
        let mut pull = PullSocket::new();
        let endpoint = pull.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut push = PushSocket::new();
        push.connect(&endpoint).await.unwrap();
        for i in 0..5u8 {
            push.send(msg(&[&format!("message {i}")])).await.unwrap();
        }
        for _ in 0..5 {
            pull.recv().await.unwrap();
        }
        let (sent, received) = (push.stats(), pull.stats());
        assert_eq!(sent.messages_out, 5);
        assert_eq!(received.messages_in, 5);
        assert_eq!(sent.messages_in, 0);
        // Each message is a 2-byte frame header and 9 bytes, after the handshake's bytes.
        assert!(received.bytes_in >= 5 * 11, "{received:?}");
        assert!(
            sent.bytes_out >= received.bytes_in - 64,
            "{sent:?} {received:?}"
        );
        assert_eq!(received.handshake_failures, 0);
        assert_eq!(sent.reconnects, 0);
    })
    .await;
}

#[tokio::test]
async fn stats_count_what_the_hwm_drops() {
    within(async {
        let mut options = SocketOptions::default();
        options.sndhwm = 2;
        let mut publisher = PubSocket::with_options(options).unwrap();
        let e = ep("hwm-drops");
        publisher.bind(&e).await.unwrap();
        let mut options = SocketOptions::default();
        options.rcvhwm = 2;
        let mut sub = SubSocket::with_options(options).unwrap();
        sub.subscribe("").unwrap();
        sub.connect(&e).await.unwrap();
        // Once one message arrives the publisher has the subscription.
        loop {
            publisher.send(msg(&["probe"])).await.unwrap();
            if sub.try_recv().is_ok() {
                break;
            }
            tokio::task::yield_now().await;
        }
        while sub.try_recv().is_ok() {}
        let before = publisher.stats().hwm_drops;
        for i in 0..20 {
            publisher.send(msg(&[&format!("{i}")])).await.unwrap();
        }
        let mut received = 0;
        while sub.try_recv().is_ok() {
            received += 1;
        }
        let dropped = publisher.stats().hwm_drops - before;
        assert!(dropped > 0, "the subscriber's queue filled");
        assert_eq!(
            received + dropped,
            20,
            "every message was delivered or counted"
        );
    })
    .await;
}

#[tokio::test]
async fn ipc_connect_raises_connected_without_delay() {
    within(async {
        let path =
            std::env::temp_dir().join(format!("zmq-async-observe-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let endpoint = format!("ipc://{}", path.display());
        let mut pull = PullSocket::new();
        pull.bind(&endpoint).await.unwrap();
        let mut push = PushSocket::new();
        let mut events = push.monitor_with(Events::ALL, 8);
        push.connect(&endpoint).await.unwrap();
        let first = events.next().await.unwrap();
        assert_eq!(first.kind, EventKind::Connected);
        assert_eq!(first.endpoint, endpoint);
        let second = events.next().await.unwrap();
        assert_eq!(second.kind, EventKind::HandshakeSucceeded);
        drop((pull, push));
        let _ = std::fs::remove_file(&path);
    })
    .await;
}

#[tokio::test]
async fn inproc_raises_nothing_and_a_monitor_ends_with_the_socket() {
    within(async {
        let mut pull = PullSocket::new();
        let mut events = pull.monitor();
        let e = ep("monitor-inproc");
        pull.bind(&e).await.unwrap();
        let mut push = PushSocket::new();
        push.connect(&e).await.unwrap();
        push.send(msg(&["x"])).await.unwrap();
        pull.recv().await.unwrap();
        drop(pull);
        let all: Vec<_> = events.by_ref().map(|e| e.kind).collect().await;
        assert_eq!(all, [EventKind::MonitorStopped]);
        // A monitor made after the socket is gone ends at once too.
        let push_events: Vec<_> = {
            let m = push.monitor();
            drop(push);
            m.map(|e| e.kind).collect().await
        };
        assert_eq!(push_events, [EventKind::MonitorStopped]);
    })
    .await;
}

#[tokio::test]
async fn bind_failed_is_raised() {
    within(async {
        let mut first = PullSocket::new();
        let endpoint = first.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut second = PullSocket::new();
        let mut events = second.monitor();
        assert!(second.bind(&endpoint).await.is_err());
        let event = events.next().await.unwrap();
        assert!(
            matches!(event.kind, EventKind::BindFailed { errno: 98, .. }),
            "{event:?}"
        );
        assert_eq!(event.endpoint, endpoint);
    })
    .await;
}

/// The span names and fields a subscriber saw, and each span's parent.
#[derive(Default)]
struct Spans {
    seen: Mutex<Vec<(String, String, Option<u64>)>>,
}

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

struct Recorder(Arc<Spans>);

impl tracing::Subscriber for Recorder {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut fields = Fields(String::new());
        span.record(&mut fields);
        let parent = span.parent().map(tracing::span::Id::into_u64);
        let mut seen = self.0.seen.lock().unwrap();
        seen.push((span.metadata().name().to_owned(), fields.0, parent));
        tracing::span::Id::from_u64(seen.len() as u64)
    }
    fn record(&self, span: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut fields = Fields(String::new());
        values.record(&mut fields);
        let mut seen = self.0.seen.lock().unwrap();
        if let Some(entry) = seen.get_mut(span.into_u64() as usize - 1) {
            entry.1.push_str(&fields.0);
        }
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn a_socket_has_a_span_over_its_connects() {
    let spans = Arc::new(Spans::default());
    let _guard = tracing::subscriber::set_default(Recorder(spans.clone()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut push = PushSocket::new();
        push.connect("tcp://127.0.0.1:1").await.unwrap();
        push.bind("inproc://observe-span").await.unwrap();
    });
    let seen = spans.seen.lock().unwrap();
    let socket = seen
        .iter()
        .position(|(name, _, _)| name == "zmq.socket")
        .expect("a zmq.socket span");
    let (_, fields, parent) = &seen[socket];
    assert!(fields.contains("type=PUSH"), "{fields}");
    assert!(
        fields.contains("endpoints=\"connect:tcp://127.0.0.1:1 bind:inproc://observe-span\""),
        "{fields}"
    );
    assert_eq!(*parent, None, "a socket's span is a root");
    let connect = seen
        .iter()
        .find(|(name, _, _)| name == "zmq.connect")
        .expect("a zmq.connect span");
    assert_eq!(
        connect.2,
        Some(socket as u64 + 1),
        "its parent is the socket's span"
    );
}

#[tokio::test]
async fn a_stream_socket_raises_accepted_and_disconnected() {
    within(async {
        let mut stream = zmq_async::StreamSocket::new();
        let mut events = stream.monitor();
        let endpoint = stream.bind("tcp://127.0.0.1:0").await.unwrap();
        let raw = tokio::net::TcpStream::connect(endpoint.strip_prefix("tcp://").unwrap())
            .await
            .unwrap();
        let local = format!("tcp://{}", raw.local_addr().unwrap());
        let up = [events.next().await.unwrap(), events.next().await.unwrap()];
        assert_eq!(up[0].kind, EventKind::Listening);
        assert_eq!(up[1].kind, EventKind::Accepted);
        assert_eq!(up[1].peer_address.as_deref(), Some(local.as_str()));
        drop(raw);
        let gone = events.next().await.unwrap();
        assert_eq!(gone.kind, EventKind::Disconnected);
        assert_eq!(gone.peer_address.as_deref(), Some(local.as_str()));
    })
    .await;
}
