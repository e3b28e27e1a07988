//! Request-reply broker (the guide's `rrbroker`): a ROUTER for clients on
//! `tcp://*:5559` and a DEALER for workers on `tcp://*:5560`, switching
//! messages between them. Where the guide polls both sockets with
//! `zmq_poll`, this waits on both `recv`s with `tokio::select!` (they are
//! cancel-safe: the branch that loses has taken nothing). Runs until killed.

use zmq_async::{DealerSocket, Result, RouterSocket};

#[tokio::main]
async fn main() -> Result<()> {
    // Prepare our sockets
    let mut frontend = RouterSocket::new();
    let mut backend = DealerSocket::new();
    frontend.bind("tcp://*:5559").await?;
    backend.bind("tcp://*:5560").await?;

    // Switch messages between sockets; a message is every frame, so the
    // guide's "process all parts of the message" loop is one send.
    loop {
        tokio::select! {
            msg = frontend.recv() => backend.send(msg?).await?,
            msg = backend.recv() => frontend.send(msg?).await?,
        }
    }
}
