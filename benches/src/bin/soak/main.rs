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
//! peer processes use libzmq's sockets (through the `zmq` crate) instead of ours.
//!
//! Each DEALER sends numbered requests (`--req-rate` per second, `--size` bytes) and the
//! ROUTER answers each at once; the PUB publishes numbered messages round-robin on
//! `--topics` topics (`--pub-rate` per second in all), and each SUB subscribes to two. Peers
//! report their counts on stdout ten times a second. After `--secs`, the kills stop, the PUB
//! stops, and every peer stops sending, waits for its outstanding replies and for the last
//! publication of each topic (15 s at most), and makes its final report.
//!
//! The figures (printed every `--sample` seconds and summed up at the end as markdown):
//! - requests sent, answered, **lost**: a request of a surviving peer that never got its
//!   reply, or a reply skipped over by a later one — must be 0, as a DEALER's request on a
//!   live connection is answered;
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
mod tally;
mod zmq_peer;

use std::time::Duration;

use zmq_async::SocketOptions;

/// The run's parameters (both modes).
#[derive(Debug, Clone)]
pub struct Config {
    /// Length of the run before the drain, in seconds.
    pub secs: u64,
    /// Peers in all (DEALERs + SUBs).
    pub peers: usize,
    /// Peer processes.
    pub procs: usize,
    /// DEALERs per process.
    pub dealers: usize,
    /// SUBs per process.
    pub subs: usize,
    /// Seconds between kills (0: no kills).
    pub kill_every: f64,
    /// Seed of the choice of the process to kill.
    pub seed: u64,
    /// Requests per second per DEALER.
    pub req_rate: f64,
    /// Publications per second in all.
    pub pub_rate: f64,
    /// Topics.
    pub topics: usize,
    /// Payload bytes of each request and publication.
    pub size: usize,
    /// Seconds between samples.
    pub sample: u64,
    /// Peer processes (the first ones) with libzmq's sockets.
    pub libzmq_procs: usize,
}

impl Config {
    /// The options of every socket of the soak: heartbeats on (1 s / TTL 3 s / 3 s), and
    /// the default HWMs (1000).
    pub fn socket_options(&self) -> SocketOptions {
        let mut o = SocketOptions::default();
        o.heartbeat_ivl = Some(Duration::from_secs(1));
        o.heartbeat_ttl = Some(Duration::from_secs(3));
        o.heartbeat_timeout = Some(Duration::from_secs(3));
        o
    }

    /// The arguments that make a peer process run with this configuration.
    fn peer_args(&self) -> Vec<String> {
        let mut v = Vec::new();
        for (k, val) in [
            ("dealers", self.dealers.to_string()),
            ("subs", self.subs.to_string()),
            ("req-rate", self.req_rate.to_string()),
            ("topics", self.topics.to_string()),
            ("size", self.size.to_string()),
        ] {
            v.push(format!("--{k}"));
            v.push(val);
        }
        v
    }
}

/// `--name value` pairs.
struct Flags(Vec<(String, String)>);

impl Flags {
    fn parse() -> Flags {
        let mut args = std::env::args().skip(1);
        let mut v = Vec::new();
        while let Some(a) = args.next() {
            let Some(name) = a.strip_prefix("--") else {
                usage(&format!("unexpected argument {a}"));
            };
            let Some(value) = args.next() else {
                usage(&format!("--{name} needs a value"));
            };
            v.push((name.to_owned(), value));
        }
        Flags(v)
    }

    fn take<T: std::str::FromStr>(&mut self, name: &str, default: T) -> T {
        match self.0.iter().position(|(n, _)| n == name) {
            None => default,
            Some(i) => {
                let (_, value) = self.0.remove(i);
                value
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("--{name}: not a valid value: {value}")))
            }
        }
    }

    fn take_str(&mut self, name: &str) -> Option<String> {
        let i = self.0.iter().position(|(n, _)| n == name)?;
        Some(self.0.remove(i).1)
    }

    fn finish(self) {
        if let Some((n, _)) = self.0.first() {
            usage(&format!("unknown option --{n}"));
        }
    }
}

fn usage(msg: &str) -> ! {
    eprintln!("soak: {msg}");
    eprintln!(
        "usage: soak [--secs 600] [--peers 100] [--procs 10] [--kill-every 3] [--seed 1] \
         [--req-rate 20] [--pub-rate 200] [--topics 4] [--size 64] [--sample 10] \
         [--libzmq-procs 0]"
    );
    std::process::exit(2)
}

fn main() {
    let mut f = Flags::parse();
    let peers: usize = f.take("peers", 100);
    let procs: usize = f.take("procs", 10);
    let per_proc = peers / procs.max(1);
    let mut cfg = Config {
        secs: f.take("secs", 600),
        peers,
        procs,
        dealers: per_proc / 2,
        subs: per_proc - per_proc / 2,
        kill_every: f.take("kill-every", 3.0),
        seed: f.take("seed", 1),
        req_rate: f.take("req-rate", 20.0),
        pub_rate: f.take("pub-rate", 200.0),
        topics: f.take("topics", 4),
        size: f.take("size", 64),
        sample: f.take("sample", 10),
        libzmq_procs: f.take("libzmq-procs", 0),
    };
    cfg.dealers = f.take("dealers", cfg.dealers);
    cfg.subs = f.take("subs", cfg.subs);
    let peer_mode = f.take_str("peer-inc").map(|inc| {
        let inc: u64 = inc
            .parse()
            .unwrap_or_else(|_| usage("--peer-inc: not a number"));
        let router = f.take_str("router").unwrap_or_else(|| usage("--router"));
        let publisher = f.take_str("pub").unwrap_or_else(|| usage("--pub"));
        let libzmq = f.take_str("libzmq").is_some_and(|v| v == "1");
        (inc, router, publisher, libzmq)
    });
    f.finish();
    if cfg.procs == 0 || cfg.dealers + cfg.subs == 0 {
        usage("need at least one process with at least one peer");
    }
    if cfg.topics == 0 || cfg.topics > 999 || cfg.req_rate <= 0.0 || cfg.pub_rate <= 0.0 {
        usage("need 1 to 999 topics and positive rates");
    }
    if cfg.sample == 0 {
        usage("--sample must be at least 1");
    }
    match peer_mode {
        Some((inc, router, publisher, false)) => peer::run(&cfg, inc, &router, &publisher),
        Some((inc, router, publisher, true)) => zmq_peer::run(&cfg, inc, &router, &publisher),
        None => std::process::exit(server::run(&cfg)),
    }
}
