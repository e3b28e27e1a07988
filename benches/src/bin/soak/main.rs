//! `soak`: a long run of many peers over tcp, some of them killed and restarted all along,
//! that counts every message and watches the server's memory and file descriptors.
//!
//! ```text
//! soak [--secs 600] [--peers 100] [--procs 10] [--kill-every 3] [--seed 1]
//!      [--req-rate 20] [--pub-rate 200] [--topics 4] [--size 64] [--sample 10]
//!      [--libzmq-procs 0]
//! ```
//!
//! This process is the server: a ROUTER and a PUB of ours, bound on `127.0.0.1:0`. It runs
//! `--procs` peer processes (itself again, in peer mode), each holding `--peers / --procs`
//! peers of ours: half DEALERs connected to the ROUTER, half SUBs connected to the PUB.
//! Every `--kill-every` seconds one peer process (a tenth of the peers with the defaults),
//! chosen at random from `--seed`, is killed with SIGKILL and started again. Every socket
//! has heartbeats on: PING every 1 s, TTL 3 s, timeout 3 s. The first `--libzmq-procs`
//! peer processes run `soak_libzmq_peer` (libzmq's sockets through the `zmq` crate) instead;
//! build it too: `cargo build --release -p zmq-benches --bins`.
//!
//! Each DEALER sends numbered requests (`--req-rate` per second, `--size` bytes) and the
//! ROUTER answers each at once; the PUB publishes numbered messages round-robin on
//! `--topics` topics (`--pub-rate` per second in all), and each SUB subscribes to two. Peers
//! report their counts on stdout ten times a second. After `--secs` the kills stop; 2 s
//! later (so the last peers started have joined) the PUB stops, and every peer stops
//! sending, waits for its outstanding replies and for the last publication of each topic
//! (15 s at most), and makes its final report.
//!
//! The figures (printed every `--sample` seconds and summed up at the end as markdown):
//! - requests sent, answered, **lost**: a request of a surviving peer that never got its
//!   reply — must be 0, as a DEALER's request on a live connection is answered; and in
//!   every peer, killed or not, no request skipped over at the ROUTER and no reply skipped
//!   over at the DEALER (a later one arrived first), duplicated or reordered;
//! - **in flight at kill**: requests of a killed peer known to be sent (by its last report
//!   or by the ROUTER) with no reply in its last report — neither lost nor delivered;
//! - published, delivered, and gaps within a subscriber's span (its first to its last
//!   publication per topic): PUB/SUB may drop (slow joiner, HWM), so these are reported;
//!   duplicates and reordering anywhere must be 0;
//! - the server's RSS and open fds over time, and its connections.
//!
//! The process exits with 1 if something promised was lost, duplicated or reordered.
//! Ctrl-C reaches the peer processes too (same process group); a peer also exits when the
//! server's end of its stdin closes, so none outlives the server.

mod peer;
mod server;

use zmq_benches::soak::{usage, Config, Flags};

fn main() {
    let mut f = Flags::parse();
    let cfg = Config::from_flags(&mut f);
    let peer_mode = f.take_str("peer-inc").map(|inc| {
        let inc: u64 = inc
            .parse()
            .unwrap_or_else(|_| usage("--peer-inc: not a number"));
        let router = f.take_str("router").unwrap_or_else(|| usage("--router"));
        let publisher = f.take_str("pub").unwrap_or_else(|| usage("--pub"));
        (inc, router, publisher)
    });
    f.finish();
    match peer_mode {
        Some((inc, router, publisher)) => peer::run(&cfg, inc, &router, &publisher),
        None => std::process::exit(server::run(&cfg)),
    }
}
