//! A streamer written as one combinator: the PULL socket is a `Stream`, the
//! PUSH socket a `Sink`, so the guide's streamer device is
//! `frontend.map_ok(..).forward(backend)`.
//!
//! ```text
//! producer PUSH --> PULL [map_ok, forward] PUSH --> PULL consumer
//! ```
//!
//! Everything runs in this process over tcp on 127.0.0.1 (ports chosen by the OS).

use futures::{stream, SinkExt, StreamExt, TryStreamExt};
use zmq_async::{Message, PullSocket, PushSocket, Result};

#[tokio::main]
async fn main() -> Result<()> {
    // The streamer: PULL in, PUSH out, and a combinator chain between them.
    let mut frontend = PullSocket::new();
    let front = frontend.bind("tcp://127.0.0.1:0").await?;
    let mut backend = PushSocket::new();
    let back = backend.bind("tcp://127.0.0.1:0").await?;
    let streamer = tokio::spawn(
        frontend
            .map_ok(|msg: Message| {
                // Every frame upper-cased on the way through.
                msg.into_iter()
                    .map(|frame| frame.to_ascii_uppercase())
                    .collect::<Message>()
            })
            .forward(backend),
    );

    // A producer and a consumer at either end.
    let mut producer = PushSocket::new();
    producer.connect(&front).await?;
    let mut consumer = PullSocket::new();
    consumer.connect(&back).await?;

    let mut tasks = stream::iter(1..=5).map(|i| Ok(Message::from(format!("task {i}"))));
    producer.send_all(&mut tasks).await?;

    let results: Vec<Message> = consumer.by_ref().take(5).try_collect().await?;
    for msg in &results {
        println!("streamed: {}", String::from_utf8_lossy(&msg[0]));
    }
    streamer.abort();
    Ok(())
}
