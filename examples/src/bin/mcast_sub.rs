//! `mcast_sub <endpoint> <count>`: a SUB connected to the endpoint (`tcp://`, `ipc://`,
//! `epgm://`, `pgm://`), subscribed to everything, prints each message it receives on its
//! own line (frames separated by spaces, non-UTF-8 bytes escaped) and exits 0 after `count`
//! messages, or 1 once 10 s passed in which nothing arrived. Pairs with `mcast_pub`, ours or
//! libzmq's.
//!
//! ```sh
//! cargo run -p zmq-examples --bin mcast_sub -- 'epgm://lo;239.192.1.1:5555' 1000
//! ```

use std::io::Write;
use std::time::Duration;

use zmq_async::SubSocket;

const SILENCE: Duration = Duration::from_secs(10);

fn usage() -> ! {
    eprintln!("usage: mcast_sub <endpoint> <count>");
    std::process::exit(2);
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 2 {
        usage();
    }
    let endpoint = &args[0];
    let count: u64 = args[1].parse().unwrap_or_else(|_| usage());

    let mut subscriber = SubSocket::new();
    subscriber.subscribe("")?;
    subscriber.connect(endpoint).await?;

    let mut out = std::io::stdout().lock();
    for received in 0..count {
        let Ok(message) = tokio::time::timeout(SILENCE, subscriber.recv()).await else {
            eprintln!("mcast_sub: nothing for {SILENCE:?}; {received} of {count} received");
            let stats = subscriber.multicast_stats();
            if stats != Default::default() {
                eprintln!("mcast_sub: {stats:?}");
            }
            std::process::exit(1);
        };
        let message = message?;
        let frames: Vec<String> = message
            .iter()
            .map(|f| String::from_utf8_lossy(f).escape_debug().to_string())
            .collect();
        writeln!(out, "{}", frames.join(" "))?;
        out.flush()?;
    }
    let stats = subscriber.multicast_stats();
    if stats.losses > 0 || stats.malformed_messages > 0 {
        eprintln!("mcast_sub: {stats:?}");
    }
    Ok(())
}
