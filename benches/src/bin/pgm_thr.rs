//! `pgm_thr <pub|sub> <ours|libzmq> <endpoint> <message-size> <message-count> <rate-kbit>`:
//! multicast throughput, PUB to SUB over `epgm://` (or `pgm://`), ours or libzmq's (through
//! the `zmq` crate) at either end. `scripts/pgm-bench.sh` runs it between two network
//! namespaces, with and without loss. Both ask for 4 MiB kernel receive buffers (ours always
//! does on its PGM sockets; libzmq through `ZMQ_RCVBUF`).
//!
//! The publisher sends 200 one-byte warm-up messages 5 ms apart (so the subscriber has
//! joined and the session is known before the clock matters), then `message-count` messages
//! of `message-size` bytes (at least 8: the first 8 are the sequence number) as fast as the
//! socket takes them (`sndhwm` unlimited: PGM's `rate` is the limit), then serves repairs
//! for `recovery_ivl` (10 s) and exits.
//!
//! The subscriber prints `ready` once connected, starts the clock at the first counted
//! message and stops it at the last one received: the last of the run, or the last before
//! 15 s of silence (longer than the receivers' repair give-up, 50 NAK retries 200 ms apart).
//! It prints `received <n> lost <n> disordered <n> elapsed_s <s> msg_s <n> mbit_s <n>`
//! (lost: never received; disordered: not above the previous number).

use std::io::Write;
use std::time::{Duration, Instant};

use zmq_async::{Message, PubSocket, SubSocket};
use zmq_benches::{fail, runtime, Args};

const WARMUPS: usize = 200;
const WARMUP_GAP: Duration = Duration::from_millis(5);
/// The subscriber gives up on the rest of the run after this long without a message.
const SILENCE: Duration = Duration::from_secs(15);
/// How long the subscriber waits for the first counted message.
const FIRST: Duration = Duration::from_secs(60);
const RECOVERY_IVL: Duration = Duration::from_secs(10);
/// libzmq's `ZMQ_RCVBUF` here: the 4 MiB kernel receive buffer ours asks for on its PGM
/// sockets (libzmq leaves the kernel's default unless told).
const LIBZMQ_RCVBUF: i32 = 4 << 20;

const USAGE: &str =
    "pgm_thr <pub|sub> <ours|libzmq> <endpoint> <message-size> <message-count> <rate-kbit>";

struct Run {
    endpoint: String,
    size: usize,
    count: usize,
    rate: u32,
}

fn main() {
    let args = Args::parse(USAGE, 6);
    let run = Run {
        endpoint: args.str(2).to_owned(),
        size: args.number(3),
        count: args.number(4),
        rate: u32::try_from(args.number(5)).unwrap_or_else(|_| fail("rate: too large")),
    };
    if run.size < 8 {
        fail("message-size: at least 8");
    }
    match (args.str(0), args.str(1)) {
        ("pub", "ours") => runtime(args.multi_thread).block_on(ours_pub(run)),
        ("sub", "ours") => {
            let stats = runtime(args.multi_thread).block_on(ours_sub(&run));
            stats.print(&run);
        }
        ("pub", "libzmq") => libzmq_pub(run),
        ("sub", "libzmq") => libzmq_sub(&run).print(&run),
        _ => fail(format_args!("usage: {USAGE}")),
    }
}

fn body(i: usize, size: usize) -> Vec<u8> {
    let mut b = vec![0u8; size];
    b[..8].copy_from_slice(&(i as u64).to_be_bytes());
    b
}

async fn ours_pub(run: Run) {
    let mut s = PubSocket::new();
    let set = s
        .set_rate(run.rate)
        .and_then(|()| s.set_sndhwm(0))
        .and_then(|()| s.set_linger(Some(RECOVERY_IVL)));
    if let Err(e) = set {
        fail(format_args!("zmq_setsockopt: {e}"));
    }
    if let Err(e) = s.connect(&run.endpoint).await {
        fail(format_args!("zmq_connect: {e}"));
    }
    for _ in 0..WARMUPS {
        let _ = s.send(&b"w"[..]).await;
        tokio::time::sleep(WARMUP_GAP).await;
    }
    for i in 0..run.count {
        if let Err(e) = s.send(Message::from(body(i, run.size))).await {
            fail(format_args!("zmq_send: {e}"));
        }
    }
    s.shutdown().await;
}

fn libzmq_pub(run: Run) {
    let ctx = zmq::Context::new();
    let s = ctx.socket(zmq::PUB).unwrap_or_else(|e| fail(e));
    let set = s
        .set_rate(run.rate as i32)
        .and_then(|()| s.set_sndhwm(0))
        .and_then(|()| s.set_rcvbuf(LIBZMQ_RCVBUF))
        .and_then(|()| s.set_linger(0));
    if let Err(e) = set {
        fail(format_args!("zmq_setsockopt: {e}"));
    }
    if let Err(e) = s.connect(&run.endpoint) {
        fail(format_args!("zmq_connect: {e}"));
    }
    for _ in 0..WARMUPS {
        let _ = s.send(&b"w"[..], 0);
        std::thread::sleep(WARMUP_GAP);
    }
    for i in 0..run.count {
        if let Err(e) = s.send(body(i, run.size), 0) {
            fail(format_args!("zmq_send: {e}"));
        }
    }
    std::thread::sleep(RECOVERY_IVL);
}

#[derive(Default)]
struct Stats {
    received: usize,
    disordered: usize,
    last: Option<u64>,
    first_at: Option<Instant>,
    last_at: Option<Instant>,
}

impl Stats {
    /// Counts a message; true once the run's last one is in.
    fn take(&mut self, m: &[u8], count: usize) -> bool {
        if m.len() < 8 {
            return false; // a warm-up
        }
        let mut n = [0u8; 8];
        n.copy_from_slice(&m[..8]);
        let n = u64::from_be_bytes(n);
        let now = Instant::now();
        self.first_at.get_or_insert(now);
        self.last_at = Some(now);
        if self.last.is_some_and(|l| n <= l) {
            self.disordered += 1;
        } else {
            self.received += 1;
            self.last = Some(n);
        }
        n + 1 == count as u64
    }

    fn wait(&self) -> Duration {
        if self.first_at.is_some() {
            SILENCE
        } else {
            FIRST
        }
    }

    fn print(&self, run: &Run) {
        let elapsed = match (self.first_at, self.last_at) {
            (Some(a), Some(b)) => b - a,
            _ => Duration::ZERO,
        };
        let secs = elapsed.as_secs_f64().max(1e-9);
        let rate = self.received as f64 / secs;
        println!(
            "received {} lost {} disordered {} elapsed_s {:.3} msg_s {:.0} mbit_s {:.1}",
            self.received,
            run.count - self.received.min(run.count),
            self.disordered,
            elapsed.as_secs_f64(),
            rate,
            rate * run.size as f64 * 8.0 / 1e6
        );
    }
}

async fn ours_sub(run: &Run) -> Stats {
    let mut s = SubSocket::new();
    let set = s
        .set_rate(run.rate)
        .and_then(|()| s.set_rcvhwm(0))
        .and_then(|()| s.subscribe(""));
    if let Err(e) = set {
        fail(format_args!("zmq_setsockopt: {e}"));
    }
    if let Err(e) = s.connect(&run.endpoint).await {
        fail(format_args!("zmq_connect: {e}"));
    }
    ready();
    let mut stats = Stats::default();
    loop {
        match tokio::time::timeout(stats.wait(), s.recv()).await {
            Ok(Ok(m)) => {
                if stats.take(&m[0], run.count) {
                    break;
                }
            }
            Ok(Err(e)) => fail(format_args!("zmq_recv: {e}")),
            Err(_) => break,
        }
    }
    let m = s.multicast_stats();
    eprintln!("ours: {m:?}");
    stats
}

fn libzmq_sub(run: &Run) -> Stats {
    let ctx = zmq::Context::new();
    let s = ctx.socket(zmq::SUB).unwrap_or_else(|e| fail(e));
    let set = s
        .set_rate(run.rate as i32)
        .and_then(|()| s.set_rcvhwm(0))
        .and_then(|()| s.set_rcvbuf(LIBZMQ_RCVBUF))
        .and_then(|()| s.set_subscribe(b""));
    if let Err(e) = set {
        fail(format_args!("zmq_setsockopt: {e}"));
    }
    if let Err(e) = s.connect(&run.endpoint) {
        fail(format_args!("zmq_connect: {e}"));
    }
    ready();
    let mut stats = Stats::default();
    let mut msg = zmq::Message::new();
    loop {
        let timeout = i32::try_from(stats.wait().as_millis()).unwrap_or(i32::MAX);
        if s.set_rcvtimeo(timeout).is_err() {
            fail("zmq_setsockopt");
        }
        match s.recv(&mut msg, 0) {
            Ok(()) => {
                if stats.take(&msg, run.count) {
                    break;
                }
            }
            Err(zmq::Error::EAGAIN) => break,
            Err(e) => fail(format_args!("zmq_recv: {e}")),
        }
    }
    stats
}

fn ready() {
    println!("ready");
    let _ = std::io::stdout().flush();
}
