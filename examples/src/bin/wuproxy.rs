//! Weather proxy device (the guide's `wuproxy`): an XSUB connected to the
//! weather server (`wuserver`, `tcp://localhost:5556`) and an XPUB bound on
//! `tcp://*:8100` for subscribers on another network, joined by the built-in
//! [`zmq_async::proxy`]: updates go down, subscriptions go up, so the server
//! sends only what some subscriber behind the proxy wants. Runs until killed.
//!
//! Try it with `wuserver`, this, and `wuclient 10001 tcp://localhost:8100`.

use zmq_async::{proxy, Result, XPubSocket, XSubSocket};

#[tokio::main]
async fn main() -> Result<()> {
    // This is where the weather server sits
    let mut frontend = XSubSocket::new();
    frontend.connect("tcp://localhost:5556").await?;

    // This is our public endpoint for subscribers
    let mut backend = XPubSocket::new();
    backend.bind("tcp://*:8100").await?;

    // Run the proxy until the user interrupts us
    proxy(&mut frontend, &mut backend).await?;
    Ok(())
}
