//! Task sink (the guide's `tasksink`): a PULL socket bound on `tcp://*:5558`
//! that waits for the ventilator's start-of-batch message, then collects 100
//! results from the workers and prints how long the batch took.

use std::io::Write;
use std::time::Instant;

use zmq_async::{PullSocket, Result};

#[tokio::main]
async fn main() -> Result<()> {
    // Prepare our socket
    let mut receiver = PullSocket::new();
    receiver.bind("tcp://*:5558").await?;

    // Wait for start of batch
    let _start = receiver.recv().await?;

    // Start our clock now
    let start_time = Instant::now();

    // Process 100 confirmations
    let mut stdout = std::io::stdout();
    for task_nbr in 0..100 {
        let _result = receiver.recv().await?;
        stdout.write_all(if task_nbr % 10 == 0 { b":" } else { b"." })?;
        stdout.flush()?;
    }
    // Calculate and report duration of batch
    println!(
        "Total elapsed time: {} msec",
        start_time.elapsed().as_millis()
    );
    Ok(())
}
