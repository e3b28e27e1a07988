//! Hello World client (the zguide's `hwclient`) over CURVE: connects REQ to
//! tcp://localhost:5555, sends "Hello" ten times and waits for each "World".
//!
//! ```sh
//! cargo run -p zmq-examples --bin hwclient_curve -- <server-public-z85> [<client-secret-z85>]
//! ```
//!
//! Without a client secret key, a fresh key pair is generated (and its public key
//! printed, for a server that only lets known keys in).

use zmq_async::{Message, ReqSocket};
use zmtp_codec::CurveKeyPair;

fn usage() -> ! {
    eprintln!("usage: hwclient_curve <server-public-z85> [<client-secret-z85>]");
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> Result<(), zmq_async::Error> {
    let mut args = std::env::args().skip(1);
    let server_key = args.next().unwrap_or_else(|| usage());
    let keys = match args.next() {
        Some(secret) => CurveKeyPair::from_secret_z85(&secret).unwrap_or_else(|_| {
            eprintln!("the client secret key must be 40 Z85 characters");
            usage()
        }),
        None => CurveKeyPair::generate(),
    };
    println!("client public key: {}", keys.public_z85());

    println!("Connecting to hello world server...");
    let mut requester = ReqSocket::new();
    requester.set_curve_keypair(&keys)?;
    requester.set_curve_serverkey(&server_key)?;
    requester.connect("tcp://localhost:5555").await?;

    for request_nbr in 0..10 {
        println!("Sending Hello {request_nbr}...");
        requester.send(Message::from("Hello")).await?;
        let reply = requester.recv().await?;
        println!(
            "Received {} {request_nbr}",
            String::from_utf8_lossy(&reply[0])
        );
    }
    Ok(())
}
