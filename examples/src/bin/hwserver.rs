//! Hello World server (the guide's `hwserver`): a REP socket bound on
//! `tcp://*:5555` that answers every request with "World" after one second
//! of "work" (10 ms with `ZMQ_EXAMPLES_FAST=1`). Runs until killed.

use zmq_async::{RepSocket, Result};

#[tokio::main]
async fn main() -> Result<()> {
    // Socket to talk to clients
    let mut responder = RepSocket::new();
    responder.bind("tcp://*:5555").await?;

    loop {
        let _request = responder.recv().await?;
        println!("Received Hello");
        tokio::time::sleep(zmq_examples::work_time()).await; // Do some 'work'
        responder.send("World").await?;
    }
}
