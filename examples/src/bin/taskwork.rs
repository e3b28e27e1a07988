//! Task worker (the guide's `taskwork`): pulls workloads from the ventilator
//! on `tcp://localhost:5557`, "works" that many milliseconds, and pushes an
//! empty result to the sink on `tcp://localhost:5558`. Runs until killed.

use std::io::Write;
use std::time::Duration;

use zmq_async::{PullSocket, PushSocket};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Socket to receive messages on
    let mut receiver = PullSocket::new();
    receiver.connect("tcp://localhost:5557").await?;

    // Socket to send messages to
    let mut sender = PushSocket::new();
    sender.connect("tcp://localhost:5558").await?;

    // Process tasks forever
    loop {
        let msg = receiver.recv().await?;
        let text = String::from_utf8_lossy(&msg[0]);
        print!("{text}."); // Show progress
        std::io::stdout().flush()?;
        let msec: u64 = text.trim().parse()?;
        tokio::time::sleep(Duration::from_millis(msec)).await; // Do the work
        sender.send("").await?; // Send results to sink
    }
}
