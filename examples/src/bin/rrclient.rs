//! Request-reply client (the guide's `rrclient`): a REQ socket connected to
//! the broker's frontend `tcp://localhost:5559`, sending "Hello" ten times.

use zmq_async::{ReqSocket, Result};

#[tokio::main]
async fn main() -> Result<()> {
    let mut requester = ReqSocket::new();
    requester.connect("tcp://localhost:5559").await?;

    for request_nbr in 0..10 {
        requester.send("Hello").await?;
        let reply = requester.recv().await?;
        println!(
            "Received reply {request_nbr} [{}]",
            String::from_utf8_lossy(&reply[0])
        );
    }
    Ok(())
}
