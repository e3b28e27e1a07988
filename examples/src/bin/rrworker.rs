//! Request-reply worker (the guide's `rrworker`): a REP socket connected to
//! the broker's backend `tcp://localhost:5560` that answers "World" after one
//! second of "work" (10 ms with `ZMQ_EXAMPLES_FAST=1`). Runs until killed.

use zmq_async::{RepSocket, Result};

#[tokio::main]
async fn main() -> Result<()> {
    let mut responder = RepSocket::new();
    responder.connect("tcp://localhost:5560").await?;

    loop {
        // Wait for next request from client
        let request = responder.recv().await?;
        println!(
            "Received request: [{}]",
            String::from_utf8_lossy(&request[0])
        );

        // Do some 'work'
        tokio::time::sleep(zmq_examples::work_time()).await;

        // Send reply back to client
        responder.send("World").await?;
    }
}
