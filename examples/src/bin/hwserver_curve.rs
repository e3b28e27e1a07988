//! Hello World server (the zguide's `hwserver`) over CURVE: binds REP on tcp port 5555,
//! expects "Hello", replies "World".
//!
//! ```sh
//! cargo run -p zmq-examples --bin curve_keygen          # make the server's key pair
//! cargo run -p zmq-examples --bin hwserver_curve -- <server-secret-z85> [<client-public-z85>…]
//! ```
//!
//! With client public keys, only those clients get in (a ZAP handler checks them);
//! without, any client that knows the server's public key does (libzmq's behaviour with
//! no ZAP handler).

use std::time::Duration;

use zmq_async::zap::{self, StaticAuthenticator};
use zmq_async::{Message, RepSocket};
use zmtp_codec::CurveKeyPair;

fn usage() -> ! {
    eprintln!("usage: hwserver_curve <server-secret-z85> [<allowed-client-public-z85>...]");
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> Result<(), zmq_async::Error> {
    let mut args = std::env::args().skip(1);
    let secret = args.next().unwrap_or_else(|| usage());
    let Ok(keys) = CurveKeyPair::from_secret_z85(&secret) else {
        eprintln!("the server secret key must be 40 Z85 characters");
        usage()
    };
    let allowed: Vec<String> = args.collect();
    let _auth = if allowed.is_empty() {
        None
    } else {
        let mut auth = StaticAuthenticator::new();
        for key in &allowed {
            auth = auth.allow_curve_z85(key)?;
        }
        Some(zap::serve(auth).await?)
    };

    let mut responder = RepSocket::new();
    responder.set_curve_keypair(&keys)?;
    responder.set_curve_server(true)?;
    responder.bind("tcp://*:5555").await?;
    println!("server public key: {}", keys.public_z85());

    loop {
        let request = responder.recv().await?;
        println!("Received {}", String::from_utf8_lossy(&request[0]));
        tokio::time::sleep(Duration::from_secs(1)).await; // do some 'work'
        responder.send(Message::from("World")).await?;
    }
}
