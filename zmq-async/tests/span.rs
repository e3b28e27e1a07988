//! The socket's tracing span. Alone in its test binary: tracing caches whether a callsite
//! is wanted when it is first hit, so a socket made by a test running beside this one,
//! with no subscriber, could leave the span disabled here.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use zmq_async::PushSocket;

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
