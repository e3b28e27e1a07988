//! What the scaling tools (`scale` on ours, `zmq_scale` on libzmq) share: their command
//! line, the bytes they exchange, and the lines they print, so `scripts/scale.sh` reads both
//! alike.
//!
//! Three workloads, each run the same way on both libraries:
//! - `fanout <endpoint> <subscribers> <count> <size>`: one PUB and `subscribers` SUBs over
//!   tcp, in one process, the PUB on one thread and the SUBs on another. The PUB publishes
//!   warm-up frames ([`WARM_UP`]) until every SUB has one, then `count` messages of `size`
//!   bytes as fast as it can, then end frames ([`END`]) until every SUB has one. The HWMs
//!   are 0 (no limit) on both ends, so nothing is dropped and the figure is the fan-out's
//!   delivery rate, not how fast a PUB can discard: memory grows to at most subscribers ×
//!   count messages. Prints the messages delivered per second in total and per subscriber,
//!   from the PUB's first data message to the last any SUB received, and the share lost (0
//!   unless broken). (Until 2026-12-05 the time ran from the first data message a SUB
//!   received, which left out what the PUB queued before any reached the wire: a PUB that
//!   queued them all before its connections wrote one was timed on the writing alone.)
//! - `router <endpoint> <dealers> <roundtrips>`: one ROUTER echoing, and `dealers` DEALERs,
//!   each doing `roundtrips` 64-byte round trips one after another (after one warm-up each);
//!   prints round trips per second in total.
//! - `idle-router <endpoint> <connections>` (the library under test) with `zmq_scale
//!   idle-dealers <endpoint> <connections>` (libzmq, the same peer for both): each dealer
//!   connects and sends one frame; the router counts them and prints the time from its bind
//!   to the last, its resident memory per connection and its file descriptors per connection.

use std::time::{Duration, Instant};

use crate::fail;

/// Sent before the measured messages, until every subscriber has seen one.
pub const WARM_UP: &[u8] = b"W";
/// Sent after the measured messages, until every subscriber has seen one.
pub const END: &[u8] = b"E";
/// A dealer's last frame: the router stops once every dealer has sent it.
pub const STOP: &[u8] = b"X";
/// How often the publisher repeats a warm-up or end frame.
pub const REPEAT: Duration = Duration::from_millis(1);
/// The router's payload size in `router`.
pub const ROUNDTRIP_SIZE: usize = 64;

/// A measured message of `size` bytes (at least one: its first byte marks it as data).
pub fn data_message(size: usize) -> Vec<u8> {
    let mut v = vec![0u8; size.max(1)];
    v[0] = b'D';
    v
}

/// What one subscriber saw of the measured messages.
#[derive(Debug, Clone, Copy, Default)]
pub struct SubTally {
    /// Data messages received.
    pub received: u64,
    /// When the last arrived.
    pub last: Option<Instant>,
}

impl SubTally {
    /// Counts one data message received now.
    pub fn record(&mut self) {
        self.received += 1;
        self.last = Some(Instant::now());
    }
}

/// The `fanout` lines: delivered per second in total and per subscriber, and the share lost;
/// `start` is when the PUB began to send the data messages.
pub fn fanout_report(
    subscribers: usize,
    count: usize,
    start: Instant,
    tallies: &[SubTally],
) -> String {
    let received: u64 = tallies.iter().map(|t| t.received).sum();
    let last = tallies.iter().filter_map(|t| t.last).max();
    let elapsed = match last {
        Some(l) => l.saturating_duration_since(start).as_secs_f64().max(1e-6),
        None => f64::NAN,
    };
    let offered = (subscribers * count) as f64;
    format!(
        "subscribers: {subscribers}\nmessage count: {count}\ndelivered: {:.0} [msg/s]\nper subscriber: {:.0} [msg/s]\nlost: {:.2} [%]\n",
        received as f64 / elapsed,
        received as f64 / elapsed / subscribers as f64,
        100.0 * (offered - received as f64) / offered,
    )
}

/// The `router` lines.
pub fn router_report(dealers: usize, roundtrips: usize, elapsed: Duration) -> String {
    let total = (dealers * roundtrips) as f64;
    format!(
        "dealers: {dealers}\nroundtrips each: {roundtrips}\nroundtrips: {:.0} [/s]\n",
        total / elapsed.as_secs_f64().max(1e-6)
    )
}

/// This process's open file descriptors (`/proc/self/fd`); 0 where that cannot be read.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// The `idle-router` lines: time to accept all, and what each connection costs the router.
pub fn idle_report(
    connections: usize,
    elapsed: Duration,
    rss_kib: (u64, u64),
    fds: (usize, usize),
) -> String {
    let n = connections.max(1) as f64;
    format!(
        "connections: {connections}\naccepted in: {:.3} [s]\nrss per connection: {:.0} [B]\nfds per connection: {:.2}\n",
        elapsed.as_secs_f64(),
        rss_kib.1.saturating_sub(rss_kib.0) as f64 * 1024.0 / n,
        fds.1.saturating_sub(fds.0) as f64 / n,
    )
}

/// A scaling tool's command line (see the module docs).
#[derive(Debug, Clone)]
pub enum Workload {
    /// `fanout <endpoint> <subscribers> <count> <size>`.
    Fanout {
        /// Where the PUB binds.
        endpoint: String,
        /// How many SUBs.
        subscribers: usize,
        /// Messages published.
        count: usize,
        /// Their size in bytes.
        size: usize,
    },
    /// `router <endpoint> <dealers> <roundtrips>`.
    Router {
        /// Where the ROUTER binds.
        endpoint: String,
        /// How many DEALERs.
        dealers: usize,
        /// Round trips each.
        roundtrips: usize,
    },
    /// `idle-router <endpoint> <connections>`.
    IdleRouter {
        /// Where the ROUTER binds.
        endpoint: String,
        /// Connections to wait for.
        connections: usize,
    },
    /// `idle-dealers <endpoint> <connections>` (libzmq's tool only).
    IdleDealers {
        /// Where to connect.
        endpoint: String,
        /// How many DEALERs.
        connections: usize,
    },
}

impl Workload {
    /// Parses `std::env::args()`; prints `usage: <usage>` and exits with status 1 (as the perf
    /// tools do) if they name no workload, or one `allowed` does not list.
    pub fn from_args(usage: &str, allowed: &[&str]) -> Workload {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let usage_exit = || -> ! {
            println!("usage: {usage}");
            std::process::exit(1)
        };
        let number = |i: usize| -> usize {
            args.get(i)
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| fail(format_args!("usage: {usage}")))
        };
        let name = args.first().map(String::as_str).unwrap_or_default();
        if !allowed.contains(&name) {
            usage_exit();
        }
        let endpoint = || args[1].clone();
        match (name, args.len()) {
            ("fanout", 5) => Workload::Fanout {
                endpoint: endpoint(),
                subscribers: number(2),
                count: number(3),
                size: number(4),
            },
            ("router", 4) => Workload::Router {
                endpoint: endpoint(),
                dealers: number(2),
                roundtrips: number(3),
            },
            ("idle-router", 3) => Workload::IdleRouter {
                endpoint: endpoint(),
                connections: number(2),
            },
            ("idle-dealers", 3) => Workload::IdleDealers {
                endpoint: endpoint(),
                connections: number(2),
            },
            _ => usage_exit(),
        }
    }
}
