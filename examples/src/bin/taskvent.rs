//! Task ventilator (the guide's `taskvent`): binds a PUSH socket on
//! `tcp://*:5557` for the workers, connects a PUSH socket to the sink on
//! `tcp://localhost:5558`, waits for Enter (skipped with `--no-wait`), sends
//! "0" to the sink as the start of the batch, then 100 tasks with random
//! workloads of 1–100 ms.

use std::io::{BufRead, Write};

use zmq_async::{PushSocket, Result};
use zmq_examples::Rand;

#[tokio::main]
async fn main() -> Result<()> {
    let wait = !std::env::args().skip(1).any(|a| a == "--no-wait");

    // Socket to send messages on
    let mut sender = PushSocket::new();
    sender.bind("tcp://*:5557").await?;

    // Socket to send start of batch message on
    let mut sink = PushSocket::new();
    sink.connect("tcp://localhost:5558").await?;

    if wait {
        print!("Press Enter when the workers are ready: ");
        std::io::stdout().flush()?;
        tokio::task::spawn_blocking(|| std::io::stdin().lock().read_line(&mut String::new()))
            .await
            .map_err(std::io::Error::other)??;
    }
    println!("Sending tasks to workers...");

    // The first message is "0" and signals start of batch
    sink.send("0").await?;

    // Send 100 tasks
    let mut rng = Rand::from_time();
    let mut total_msec = 0; // Total expected cost in msecs
    for _ in 0..100 {
        // Random workload from 1 to 100msecs
        let workload = rng.randof(100) + 1;
        total_msec += workload;
        sender.send(workload.to_string()).await?;
    }
    println!("Total expected cost: {total_msec} msec");

    // Deliver what is queued before the runtime (and every connection task with it) goes
    // away: the guide's `sleep (1)`, done exactly.
    sink.shutdown().await;
    sender.shutdown().await;
    Ok(())
}
