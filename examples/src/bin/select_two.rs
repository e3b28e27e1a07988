//! Reading from two sockets at once (the guide's `mspoller`, without a
//! poller): `tokio::select!` over a PULL socket that gets tasks and a SUB
//! socket that gets weather updates. `recv` is cancel-safe, so the branch
//! that loses the race has taken nothing off its socket.
//!
//! Everything runs in this process over tcp on 127.0.0.1 (ports chosen by the OS).

use std::time::Duration;

use zmq_async::{PubSocket, PullSocket, PushSocket, Result, SubSocket};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    // The two senders: a ventilator and a weather server.
    let mut ventilator = PushSocket::new();
    let tasks_ep = ventilator.bind("tcp://127.0.0.1:0").await?;
    let mut weather = PubSocket::new();
    let weather_ep = weather.bind("tcp://127.0.0.1:0").await?;

    // Connect to task ventilator
    let mut receiver = PullSocket::new();
    receiver.connect(&tasks_ep).await?;
    // Connect to weather server
    let mut subscriber = SubSocket::new();
    subscriber.connect(&weather_ep).await?;
    subscriber.subscribe("10001 ")?;

    tokio::spawn(ventilate(ventilator));
    tokio::spawn(publish(weather));

    // Process messages from both sockets
    let (mut tasks, mut updates) = (0, 0);
    while tasks < 3 || updates < 3 {
        tokio::select! {
            msg = receiver.recv() => {
                tasks += 1;
                println!("task:    {}", String::from_utf8_lossy(&msg?[0]));
            }
            msg = subscriber.recv(), if updates < 3 => {
                updates += 1;
                println!("weather: {}", String::from_utf8_lossy(&msg?[0]));
            }
        }
    }
    Ok(())
}

/// Sends three tasks. Dropping the socket afterwards loses nothing: linger is
/// forever by default, so the connection still delivers what is queued.
async fn ventilate(mut ventilator: PushSocket) -> Result<()> {
    for workload in [10, 20, 30] {
        ventilator.send(format!("{workload}")).await?;
    }
    Ok(())
}

/// A PUB drops what no subscriber has asked for yet: publish until stopped.
async fn publish(mut weather: PubSocket) -> Result<()> {
    let mut interval = tokio::time::interval(Duration::from_millis(10));
    loop {
        interval.tick().await;
        weather.send("10001 72 40").await?;
        weather.send("90210 85 20").await?; // filtered out by the publisher
    }
}
