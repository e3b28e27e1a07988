//! Request-reply broker (the guide's `rrbroker`): a ROUTER for clients on
//! `tcp://*:5559` and a DEALER for workers on `tcp://*:5560`, switching
//! messages between them. The guide polls both sockets with `zmq_poll` and
//! passes each message on, every part of it; that loop is what the built-in
//! [`zmq_async::proxy`] does (both directions at once, one message in hand per
//! direction). Here it is steered, libzmq's `zmq_proxy_steerable`, from an
//! inproc PAIR: at Ctrl-C the broker asks it for its STATISTICS, prints them,
//! and TERMINATEs it.

use zmq_async::{proxy, DealerSocket, PairSocket, Result, RouterSocket, Statistics};

#[tokio::main]
async fn main() -> Result<()> {
    // Prepare our sockets
    let mut frontend = RouterSocket::new();
    let mut backend = DealerSocket::new();
    frontend.bind("tcp://*:5559").await?;
    backend.bind("tcp://*:5560").await?;
    let mut control_in = PairSocket::new();
    control_in.bind("inproc://rrbroker-control").await?;
    let mut control = PairSocket::new();
    control.connect("inproc://rrbroker-control").await?;

    // Switch messages between sockets
    let broker = tokio::spawn(async move {
        proxy(&mut frontend, &mut backend)
            .control(&mut control_in)
            .await
    });

    tokio::signal::ctrl_c().await?;
    control.send("STATISTICS").await?;
    if let Some(stats) = Statistics::from_frames(&control.recv().await?) {
        let (f, b) = (stats.frontend, stats.backend);
        println!(
            "requests: {} ({} bytes), replies: {} ({} bytes)",
            f.messages_in, f.bytes_in, b.messages_in, b.bytes_in
        );
    }
    control.send("TERMINATE").await?;
    broker.await.expect("the broker task")?;
    Ok(())
}
