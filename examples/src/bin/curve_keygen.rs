//! Generates a CURVE key pair and prints both keys in Z85 under the same two headings as
//! libzmq's `curve_keygen` (`== CURVE PUBLIC KEY ==`, `== CURVE SECRET KEY ==`), so scripts
//! that read that tool's output read this one's.
//!
//! ```sh
//! cargo run -p zmq-examples --bin curve_keygen
//! ```

use zmtp_codec::CurveKeyPair;

fn main() {
    println!("A new CURVE key pair, each key as 40 Z85 characters (RFC 32). Give the public");
    println!("key to the peers that must know this one; keep the secret key on this side only.");

    let pair = CurveKeyPair::generate();
    println!("\n== CURVE PUBLIC KEY ==");
    println!("{}", pair.public_z85());
    println!("\n== CURVE SECRET KEY ==");
    println!("{}", pair.secret.to_z85());
}
