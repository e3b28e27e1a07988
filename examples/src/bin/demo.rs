//! The demo that `bash scripts/demo.sh` runs. A placeholder until the codec demo lands.

fn main() {
    println!("zmq-rs demo: the ZMTP codec demo is coming soon (see README.md for status).");
}
