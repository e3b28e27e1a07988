//! Simple message queuing broker (the guide's `msgqueue`): the same sockets as
//! `rrbroker` (ROUTER on `tcp://*:5559`, DEALER on `tcp://*:5560`), joined by
//! the built-in proxy, here [`zmq_examples::proxy`]. Runs until killed.

use zmq_async::{DealerSocket, Result, RouterSocket};

#[tokio::main]
async fn main() -> Result<()> {
    // Socket facing clients
    let mut frontend = RouterSocket::new();
    frontend.bind("tcp://*:5559").await?;

    // Socket facing services
    let mut backend = DealerSocket::new();
    backend.bind("tcp://*:5560").await?;

    // Start the proxy
    zmq_examples::proxy(frontend, backend).await
}
