//! Benchmark support code: what the perf tools in `src/bin/` share.
//!
//! The tools follow libzmq's `perf/` programs: the same arguments, the same output lines,
//! the same measurement (the throughput clock starts at the first message received; the
//! latency is the whole run divided by twice the round trips). Ours are `local_thr`,
//! `remote_thr`, `local_lat`, `remote_lat`, `inproc_thr`, `inproc_lat`; the same programs
//! on libzmq (through the `zmq` crate) are prefixed `zmq_`; `raw_*` move the same bytes
//! over a bare tcp or ipc socket, as the ceiling.
//!
//! ```
//! let out = zmq_benches::throughput_report(8, 1_000_000, std::time::Duration::from_millis(250));
//! assert!(out.contains("mean throughput: 4000000 [msg/s]"));
//! assert!(out.contains("mean throughput: 256.000 [Mb/s]"));
//! ```

pub mod codec;
pub mod scale;
pub mod soak;

pub use codec::{connected_pair, drain_transmit, encoded_batch};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use zmq_async::Frame;

/// Set (to anything but `0`) to run our tools on Tokio's multi-thread runtime.
pub const MT_ENV: &str = "ZMQ_BENCH_MT";

/// Command line of a perf tool: positional arguments, and whether `--mt` was given.
#[derive(Debug, Clone)]
pub struct Args {
    /// The positional arguments, in order.
    pub positional: Vec<String>,
    /// Run on the multi-thread runtime (`--mt` or [`MT_ENV`]).
    pub multi_thread: bool,
    /// Every other `--flag` given.
    pub flags: Vec<String>,
}

impl Args {
    /// Parses `std::env::args()`; prints `usage: <usage>` and exits with status 1 (as
    /// libzmq's tools do) unless there are exactly `count` positional arguments.
    pub fn parse(usage: &str, count: usize) -> Args {
        let mut multi_thread = std::env::var(MT_ENV).is_ok_and(|v| !v.is_empty() && v != "0");
        let mut positional = Vec::new();
        let mut flags = Vec::new();
        for arg in std::env::args().skip(1) {
            if arg == "--mt" {
                multi_thread = true;
            } else if arg.starts_with("--") {
                flags.push(arg);
            } else {
                positional.push(arg);
            }
        }
        if positional.len() != count {
            println!("usage: {usage}");
            std::process::exit(1);
        }
        Args {
            positional,
            multi_thread,
            flags,
        }
    }

    /// True if `--<name>` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.flags
            .iter()
            .any(|f| f.strip_prefix("--") == Some(name))
    }

    /// The positional argument at `i`.
    pub fn str(&self, i: usize) -> &str {
        &self.positional[i]
    }

    /// The positional argument at `i` as a number, exiting with a message if it is not one.
    pub fn number(&self, i: usize) -> usize {
        match self.positional[i].parse() {
            Ok(n) => n,
            Err(_) => fail(format!("not a number: {}", self.positional[i])),
        }
    }
}

/// Prints `error in <what>: <error>` and exits with status 1.
pub fn fail(msg: impl std::fmt::Display) -> ! {
    println!("error in {msg}");
    std::process::exit(1)
}

/// The Tokio runtime the tools run on: current-thread unless `multi_thread`.
pub fn runtime(multi_thread: bool) -> tokio::runtime::Runtime {
    let mut builder = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => fail(format_args!("runtime: {e}")),
    }
}

/// Waits until every task spawned on the current runtime has finished, as `zmq_ctx_term`
/// waits for lingering messages: after dropping a socket (linger forever), its connection
/// tasks end once they have written everything queued.
pub async fn wait_for_tasks() {
    let handle = tokio::runtime::Handle::current();
    while handle.metrics().num_alive_tasks() > 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// With `--hold`, a remote tool keeps its connection open after sending (until killed)
/// instead of closing: libzmq 4.3's PULL over ipc can lose the last messages when its peer
/// closes while it is at its HWM (libzmq issue 4660), so `compare.sh` holds the sender of
/// both implementations open and stops it once the receiver has everything.
pub const HOLD_FLAG: &str = "hold";

/// Sleeps forever when `--hold` was given (see [`HOLD_FLAG`]).
pub fn hold_if_asked(args: &Args) {
    if args.flag(HOLD_FLAG) {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

/// With `--curve`, the throughput tools (`local_thr`/`remote_thr` and their `zmq_` twins) run
/// over CURVE: the binding end is the server. The keys are fixed, made with `curve_keygen`
/// for these benchmarks (never use them for anything else), so two processes agree.
pub const CURVE_FLAG: &str = "curve";
const CURVE_SERVER_PUBLIC: &str = "P=%vSj3=h@)?4ap1gKlXd<Z3Gwu.:SqsqoUro%#$";
const CURVE_SERVER_SECRET: &str = "]&GuCYr)-oKbg=%k[*/t3g-HL-qO^y7J)e%[QycN";
const CURVE_CLIENT_PUBLIC: &str = "/c=Bb8:jKHng1Up2)N{()%^PhV=//{-4yn?WB.t.";
const CURVE_CLIENT_SECRET: &str = "D1*DU7U+jFUW-{QBoP0^qghmD:brjQuSR*-5t-/T";

/// Our socket as the CURVE server, if `--curve` was given.
pub fn curve_server<T: zmq_async::SocketKind>(args: &Args, s: &mut zmq_async::Socket<T>) {
    if args.flag(CURVE_FLAG) {
        let set = s
            .set_curve_server(true)
            .and_then(|()| s.set_curve_publickey(CURVE_SERVER_PUBLIC))
            .and_then(|()| s.set_curve_secretkey(CURVE_SERVER_SECRET));
        set.unwrap_or_else(|e| fail(format_args!("zmq_setsockopt: {e}")));
    }
}

/// Our socket as a CURVE client of [`curve_server`], if `--curve` was given.
pub fn curve_client<T: zmq_async::SocketKind>(args: &Args, s: &mut zmq_async::Socket<T>) {
    if args.flag(CURVE_FLAG) {
        let set = s
            .set_curve_serverkey(CURVE_SERVER_PUBLIC)
            .and_then(|()| s.set_curve_publickey(CURVE_CLIENT_PUBLIC))
            .and_then(|()| s.set_curve_secretkey(CURVE_CLIENT_SECRET));
        set.unwrap_or_else(|e| fail(format_args!("zmq_setsockopt: {e}")));
    }
}

/// A libzmq socket as the CURVE server, if `--curve` was given.
pub fn zmq_curve_server(args: &Args, s: &zmq::Socket) {
    if args.flag(CURVE_FLAG) {
        let set = s
            .set_curve_server(true)
            .and_then(|()| s.set_curve_secretkey(&z85(CURVE_SERVER_SECRET)));
        set.unwrap_or_else(|e| fail(format_args!("zmq_setsockopt: {e}")));
    }
}

/// A libzmq socket as a CURVE client of the server, if `--curve` was given.
pub fn zmq_curve_client(args: &Args, s: &zmq::Socket) {
    if args.flag(CURVE_FLAG) {
        let set = s
            .set_curve_serverkey(&z85(CURVE_SERVER_PUBLIC))
            .and_then(|()| s.set_curve_publickey(&z85(CURVE_CLIENT_PUBLIC)))
            .and_then(|()| s.set_curve_secretkey(&z85(CURVE_CLIENT_SECRET)));
        set.unwrap_or_else(|e| fail(format_args!("zmq_setsockopt: {e}")));
    }
}

fn z85(key: &str) -> Vec<u8> {
    zmq::z85_decode(key).unwrap_or_else(|e| fail(format_args!("z85: {e}")))
}

/// libzmq's `zmq_stopwatch`: whole microseconds.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch(Instant);

impl Stopwatch {
    /// Starts the clock.
    pub fn start() -> Stopwatch {
        Stopwatch(Instant::now())
    }

    /// Elapsed time since start.
    pub fn stop(self) -> Duration {
        self.0.elapsed()
    }
}

/// Microseconds as libzmq's stopwatch counts them (at least 1).
fn micros(elapsed: Duration) -> f64 {
    (elapsed.as_micros().max(1)) as f64
}

/// The lines `local_thr` prints: size, count, msg/s (truncated to an integer, as libzmq
/// does) and Mb/s computed from that integer.
pub fn throughput_report(size: usize, count: usize, elapsed: Duration) -> String {
    let throughput = (count as f64 / micros(elapsed) * 1_000_000.0) as u64;
    let megabits = (throughput as f64 * size as f64 * 8.0) / 1_000_000.0;
    format!(
        "message size: {size} [B]\nmessage count: {count}\nmean throughput: {throughput} [msg/s]\nmean throughput: {megabits:.3} [Mb/s]\n"
    )
}

/// The lines `remote_lat` prints; the latency is one way: elapsed / (2 · round trips).
pub fn latency_report(size: usize, roundtrips: usize, elapsed: Duration) -> String {
    let latency = micros(elapsed) / (roundtrips as f64 * 2.0);
    format!("message size: {size} [B]\nroundtrip count: {roundtrips}\naverage latency: {latency:.3} [us]\n")
}

/// A field of `/proc/self/status` in KiB: `VmRSS` (resident set size) or `VmData` (data
/// segments, resident or not: it shows reservations that were never touched); 0 where
/// there is no such file.
pub fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// This process's resident set size in KiB (`VmRSS`).
pub fn rss_kib() -> u64 {
    status_kib("VmRSS")
}

/// A payload of `size` zero bytes in a fresh allocation, as `zmq_msg_init_size` gives
/// libzmq's tools a fresh message each time (for the other crates; ours take [`frame`]).
pub fn payload(size: usize) -> bytes::Bytes {
    bytes::Bytes::from(vec![0u8; size])
}

/// A message frame of `size` zero bytes built afresh, as `zmq_msg_init_size` gives libzmq's
/// tools a fresh message each time: up to [`Frame::CARVED_CAPACITY`] bytes copied from a
/// slice with [`Frame::copy_from_slice`] (inline up to [`Frame::INLINE_CAPACITY`], as
/// libzmq's are up to 33 bytes, otherwise carved from a buffer of the thread), larger in an
/// allocation of its own.
pub fn frame(size: usize) -> Frame {
    match [0u8; Frame::CARVED_CAPACITY].get(..size) {
        Some(zeros) => Frame::copy_from_slice(zeros),
        None => Frame::from(vec![0u8; size]),
    }
}

/// The transport of a criterion bench (`throughput`, `latency`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `tcp://` on the loopback.
    Tcp,
    /// `ipc://` under `/tmp`.
    Ipc,
    /// `inproc://`.
    Inproc,
}

impl Transport {
    /// The name used in the bench ids.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Ipc => "ipc",
            Transport::Inproc => "inproc",
        }
    }

    /// A fresh endpoint to bind (tcp: port 0, or `*` for libzmq, resolved by the bind).
    pub fn endpoint(self, libzmq: bool) -> String {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        match self {
            Transport::Tcp if libzmq => "tcp://127.0.0.1:*".into(),
            Transport::Tcp => "tcp://127.0.0.1:0".into(),
            Transport::Ipc => format!("ipc:///tmp/zmq-bench-{pid}-{n}.ipc"),
            Transport::Inproc => format!("inproc://bench-{n}"),
        }
    }
}

/// Where a raw (non-ZeroMQ) tool listens or connects: a tcp address or an ipc path,
/// written as a ZeroMQ endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawEndpoint {
    /// `tcp://host:port`.
    Tcp(String),
    /// `ipc://path`.
    Ipc(std::path::PathBuf),
}

impl RawEndpoint {
    /// Parses `tcp://host:port` or `ipc://path`.
    pub fn parse(s: &str) -> Option<RawEndpoint> {
        if let Some(addr) = s.strip_prefix("tcp://") {
            Some(RawEndpoint::Tcp(addr.to_owned()))
        } else {
            s.strip_prefix("ipc://").map(|p| RawEndpoint::Ipc(p.into()))
        }
    }
}

/// A connected raw byte stream (tcp with `TCP_NODELAY`, or a Unix stream socket).
pub enum RawStream {
    /// tcp.
    Tcp(std::net::TcpStream),
    /// Unix domain stream socket.
    Unix(std::os::unix::net::UnixStream),
}

impl std::io::Read for RawStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            RawStream::Tcp(s) => s.read(buf),
            RawStream::Unix(s) => s.read(buf),
        }
    }
}

impl std::io::Write for RawStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            RawStream::Tcp(s) => s.write(buf),
            RawStream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `--tokio` on the raw latency tools: the same ping-pong through Tokio's readiness-based
/// I/O (`epoll_wait`, then a non-blocking read) instead of blocking calls: the floor for any
/// implementation on Tokio, where the blocking tools are the floor for any at all.
pub const TOKIO_FLAG: &str = "tokio";

impl RawStream {
    /// `count` round trips of `buf.len()` bytes: write then read back (`echo` false), or
    /// read then write back (`echo` true); blocking, or through Tokio with `--tokio` (on a
    /// current-thread runtime, or a multi-thread one with `--mt`).
    pub fn ping_pong(
        self,
        buf: &mut [u8],
        count: usize,
        echo: bool,
        args: &Args,
    ) -> std::io::Result<()> {
        use std::io::{Read, Write};
        if !args.flag(TOKIO_FLAG) {
            let mut s = self;
            for _ in 0..count {
                if echo {
                    s.read_exact(buf)?;
                    s.write_all(buf)?;
                } else {
                    s.write_all(buf)?;
                    s.read_exact(buf)?;
                }
            }
            return Ok(());
        }
        runtime(args.multi_thread).block_on(async move {
            match self {
                RawStream::Tcp(s) => {
                    s.set_nonblocking(true)?;
                    rounds(tokio::net::TcpStream::from_std(s)?, buf, count, echo).await
                }
                RawStream::Unix(s) => {
                    s.set_nonblocking(true)?;
                    rounds(tokio::net::UnixStream::from_std(s)?, buf, count, echo).await
                }
            }
        })
    }
}

async fn rounds<S>(mut s: S, buf: &mut [u8], count: usize, echo: bool) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for _ in 0..count {
        if echo {
            s.read_exact(buf).await?;
            s.write_all(buf).await?;
        } else {
            s.write_all(buf).await?;
            s.read_exact(buf).await?;
        }
    }
    Ok(())
}

impl RawEndpoint {
    /// Binds, accepts one peer and returns its stream (the ipc file is removed first and
    /// after the accept).
    pub fn accept_one(&self) -> std::io::Result<RawStream> {
        match self {
            RawEndpoint::Tcp(addr) => {
                let l = std::net::TcpListener::bind(addr)?;
                let (s, _) = l.accept()?;
                s.set_nodelay(true)?;
                Ok(RawStream::Tcp(s))
            }
            RawEndpoint::Ipc(path) => {
                let _ = std::fs::remove_file(path);
                let l = std::os::unix::net::UnixListener::bind(path)?;
                let (s, _) = l.accept()?;
                let _ = std::fs::remove_file(path);
                Ok(RawStream::Unix(s))
            }
        }
    }

    /// Connects, retrying for up to ten seconds while the peer is not listening yet.
    pub fn connect(&self) -> std::io::Result<RawStream> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = match self {
                RawEndpoint::Tcp(addr) => std::net::TcpStream::connect(addr).and_then(|s| {
                    s.set_nodelay(true)?;
                    Ok(RawStream::Tcp(s))
                }),
                RawEndpoint::Ipc(path) => {
                    std::os::unix::net::UnixStream::connect(path).map(RawStream::Unix)
                }
            };
            match r {
                Ok(s) => return Ok(s),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_match_libzmq_format() {
        let t = throughput_report(64, 100, Duration::from_micros(50));
        assert_eq!(
            t,
            "message size: 64 [B]\nmessage count: 100\nmean throughput: 2000000 [msg/s]\nmean throughput: 1024.000 [Mb/s]\n"
        );
        let l = latency_report(64, 1000, Duration::from_micros(40_000));
        assert_eq!(
            l,
            "message size: 64 [B]\nroundtrip count: 1000\naverage latency: 20.000 [us]\n"
        );
    }

    #[test]
    fn raw_endpoints() {
        assert_eq!(
            RawEndpoint::parse("tcp://127.0.0.1:1"),
            Some(RawEndpoint::Tcp("127.0.0.1:1".into()))
        );
        assert_eq!(
            RawEndpoint::parse("ipc:///tmp/x"),
            Some(RawEndpoint::Ipc("/tmp/x".into()))
        );
        assert_eq!(RawEndpoint::parse("inproc://x"), None);
    }
}
