//! Hello World client (the guide's `hwclient`): a REQ socket connected to
//! `tcp://localhost:5555` that sends "Hello" ten times and waits for each
//! "World".

use zmq_async::{ReqSocket, Result};

#[tokio::main]
async fn main() -> Result<()> {
    println!("Connecting to hello world server...");
    let mut requester = ReqSocket::new();
    requester.connect("tcp://localhost:5555").await?;

    for request_nbr in 0..10 {
        println!("Sending Hello {request_nbr}...");
        requester.send("Hello").await?;
        let _reply = requester.recv().await?;
        println!("Received World {request_nbr}");
    }
    Ok(())
}
