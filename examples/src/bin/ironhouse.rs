//! Ironhouse (the zguide's "Securing ZeroMQ" chapter): CURVE with client authentication.
//!
//! The server knows the client's public key and lets only that key in, through a ZAP
//! handler (`zap::serve` with a `StaticAuthenticator`, czmq's zauth in the zguide); the
//! client knows the server's public key. One process, tcp on a free port.
//!
//! ```sh
//! cargo run -p zmq-examples --bin ironhouse
//! ```

use zmq_async::zap::{self, StaticAuthenticator};
use zmq_async::{Message, PullSocket, PushSocket};
use zmtp_codec::CurveKeyPair;

#[tokio::main]
async fn main() -> Result<(), zmq_async::Error> {
    // Generate certificates for server and client (in practice, made once and the
    // public halves exchanged out of band).
    let client_cert = CurveKeyPair::generate();
    let server_cert = CurveKeyPair::generate();

    // Start the authenticator: only loopback peers, and only the client's key.
    let auth = StaticAuthenticator::new()
        .allow_address("127.0.0.1")
        .allow_curve(client_cert.public);
    let _auth = zap::serve(auth).await?;

    // Create and bind the server socket.
    let mut server = PushSocket::new();
    server.set_curve_keypair(&server_cert)?;
    server.set_curve_server(true)?;
    let endpoint = server.bind("tcp://127.0.0.1:0").await?;

    // Create and connect the client socket.
    let mut client = PullSocket::new();
    client.set_curve_keypair(&client_cert)?;
    client.set_curve_serverkey(server_cert.public)?;
    client.connect(&endpoint).await?;

    // Send a single message from server to client.
    server.send(Message::from("Hello")).await?;
    let message = client.recv().await?;
    assert_eq!(&message[0][..], b"Hello");
    println!("Ironhouse test OK");
    Ok(())
}
