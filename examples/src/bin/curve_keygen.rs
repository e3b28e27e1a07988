//! Generates a CURVE key pair and prints it exactly as libzmq's `curve_keygen` tool does.
//!
//! ```sh
//! cargo run -p zmq-examples --bin curve_keygen
//! ```

use zmtp_codec::CurveKeyPair;

fn main() {
    println!("This tool generates a CurveZMQ keypair, as two printable strings you can");
    println!("use in configuration files or source code. The encoding uses Z85, which");
    println!("is a base-85 format that is described in 0MQ RFC 32, and which has an");
    println!("implementation in the z85_codec.h source used by this tool. The keypair");
    println!("always works with the secret key held by one party and the public key");
    println!("distributed (securely!) to peers wishing to connect to it.");

    let pair = CurveKeyPair::generate();
    println!("\n== CURVE PUBLIC KEY ==");
    println!("{}", pair.public_z85());
    println!("\n== CURVE SECRET KEY ==");
    println!("{}", pair.secret.to_z85());
}
