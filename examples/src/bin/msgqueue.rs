//! Simple message queuing broker (the guide's `msgqueue`): the same sockets as
//! `rrbroker` (ROUTER on `tcp://*:5559`, DEALER on `tcp://*:5560`), joined by
//! the built-in proxy, [`zmq_async::proxy`] (libzmq's `zmq_proxy`). Runs until killed.

use zmq_async::{proxy, DealerSocket, Result, RouterSocket};

#[tokio::main]
async fn main() -> Result<()> {
    // Socket facing clients
    let mut frontend = RouterSocket::new();
    frontend.bind("tcp://*:5559").await?;

    // Socket facing services
    let mut backend = DealerSocket::new();
    backend.bind("tcp://*:5560").await?;

    // Start the proxy
    proxy(&mut frontend, &mut backend).await?;
    Ok(())
}
