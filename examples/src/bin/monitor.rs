//! Socket events and counters: a ROUTER on an OS-chosen port, watched two ways, its
//! `monitor()` stream and libzmq's `zmq_socket_monitor` form (a PAIR reading two-frame
//! events from an inproc endpoint); a DEALER connects, says hello, gets an answer and
//! leaves. Prints every event, then the ROUTER's counters. Ends by itself.
//!
//! `cargo run --release --bin monitor`

use futures::StreamExt;
use zmq_async::{DealerSocket, EventKind, Events, PairSocket, Result, RouterSocket};

#[tokio::main]
async fn main() -> Result<()> {
    let mut router = RouterSocket::new();

    // 1. The stream: typed events, read by a task of their own.
    let mut events = router.monitor();
    let printer = tokio::spawn(async move {
        while let Some(event) = events.next().await {
            let who = event
                .routing_id
                .as_ref()
                .map(|id| format!(" routing id {:?}", String::from_utf8_lossy(id)))
                .unwrap_or_default();
            println!("stream: {event}{who}");
        }
        println!("stream: ended ({} events dropped)", events.dropped());
    });

    // 2. libzmq's form: frame 1 is u16 event + u32 value (little-endian), frame 2 the
    // endpoint. Connect the reader first: events the PAIR cannot hand over are dropped.
    router
        .monitor_endpoint("inproc://router-events", Events::ALL)
        .await?;
    let mut reader = PairSocket::new();
    reader.connect("inproc://router-events").await?;
    let frames = tokio::spawn(async move {
        while let Ok(msg) = reader.recv().await {
            let head = &msg[0];
            let event = u16::from_le_bytes([head[0], head[1]]);
            let value = u32::from_le_bytes([head[2], head[3], head[4], head[5]]);
            println!(
                "frames: event {event:#06x} value {value} endpoint {:?}",
                String::from_utf8_lossy(&msg[1])
            );
            if event == EventKind::MonitorStopped.number() {
                break;
            }
        }
    });

    let endpoint = router.bind("tcp://127.0.0.1:0").await?;
    let mut dealer = DealerSocket::new();
    dealer.set_routing_id(Some("client-1".into()))?;
    dealer.connect(&endpoint).await?;
    dealer.send("hello").await?;
    let request = router.recv().await?;
    router
        .send(vec![request[0].clone(), "world".into()])
        .await?;
    let answer = dealer.recv().await?;
    println!("dealer got {:?}", String::from_utf8_lossy(&answer[0]));

    // Wait for the router to see the dealer go: a monitor of DISCONNECTED events only,
    // made before the dealer leaves (a monitor sees the events after its creation).
    let mut watch = router.monitor_with(Events::DISCONNECTED, 4);
    drop(dealer);
    let gone = watch.next().await;
    println!("router saw {:?}", gone.map(|e| e.kind.name()));

    let stats = router.stats();
    println!(
        "router stats: {} messages in ({} bytes), {} out ({} bytes), {} dropped at HWM, {} handshake failures",
        stats.messages_in,
        stats.bytes_in,
        stats.messages_out,
        stats.bytes_out,
        stats.hwm_drops,
        stats.handshake_failures
    );
    drop(router); // MONITOR_STOPPED ends both monitors
    let _ = printer.await;
    let _ = frames.await;
    Ok(())
}
