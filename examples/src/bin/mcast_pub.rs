//! `mcast_pub <endpoint> <count> [<messages per second>]`: a PUB bound to the endpoint
//! (`tcp://`, `ipc://`, `epgm://`, `pgm://`) publishes the messages `0`, `1`, … `count-1`
//! (ASCII decimal, one frame each) at that rate (default 1,000 a second), then stays up for
//! `recovery_ivl` (10 s) so that late repairs can be served (tcp and ipc: until what is
//! queued is written, at most that long), and exits 0. Pairs with `mcast_sub`, ours or
//! libzmq's.
//!
//! ```sh
//! cargo run -p zmq-examples --bin mcast_pub -- 'epgm://lo;239.192.1.1:5555' 1000
//! ```

use std::time::Duration;

use tokio::time::Instant;
use zmq_async::PubSocket;

fn usage() -> ! {
    eprintln!("usage: mcast_pub <endpoint> <count> [<messages per second>]");
    std::process::exit(2);
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !(2..=3).contains(&args.len()) {
        usage();
    }
    let endpoint = &args[0];
    let count: u64 = args[1].parse().unwrap_or_else(|_| usage());
    let rate: u64 = match args.get(2) {
        Some(r) => r.parse().ok().filter(|r| *r > 0).unwrap_or_else(|| usage()),
        None => 1000,
    };

    let mut publisher = PubSocket::new();
    // Queue rather than drop while the transport (PGM's `rate`) is slower than `rate` here.
    publisher.set_sndhwm(0)?;
    let recovery_ivl = publisher.options().recovery_ivl;
    publisher.set_linger(Some(recovery_ivl))?;
    publisher.bind(endpoint).await?;

    let start = Instant::now();
    for i in 0..count {
        // Message i leaves at i / rate seconds: a late start catches up at once.
        let due = start + Duration::from_nanos(i.saturating_mul(1_000_000_000) / rate);
        tokio::time::sleep_until(due).await;
        publisher.send(i.to_string()).await?;
    }

    let multicast = endpoint.starts_with("epgm://") || endpoint.starts_with("pgm://");
    if multicast {
        // The session serves repairs for `linger` (= recovery_ivl) once closed.
        publisher.shutdown().await;
    } else {
        let _ = tokio::time::timeout(recovery_ivl, publisher.shutdown()).await;
    }
    Ok(())
}
