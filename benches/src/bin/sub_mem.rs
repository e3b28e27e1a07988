//! `sub_mem [count]` (default 200000): memory per subscription of an XPUB, ours and
//! libzmq's, side by side.
//!
//! Each measurement runs in a fresh process: an XPUB (ours or libzmq's) bound on
//! `tcp://127.0.0.1`, and a libzmq XSUB in another process (so that its own copy of the
//! subscriptions is not counted) sending first one warm-up subscription, then `count`
//! distinct random 16-byte topics, or one 1 MiB topic. The XPUB reports each new
//! subscription to its user; once it has reported them all, the growth of its resident
//! set size (`VmRSS`) since the warm-up is divided by the number of
//! subscriptions. The sender's SNDHWM is 0, so none is dropped.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use zmq_async::{Message, XPubSocket};
use zmq_benches::fail;

/// Resident set size in bytes (`VmRSS`).
fn rss() -> u64 {
    zmq_benches::rss_kib() * 1024
}

/// What the sender subscribes to.
#[derive(Clone, Copy, PartialEq)]
enum Workload {
    /// `count` distinct random 16-byte topics.
    Random(usize),
    /// One topic of 1 MiB.
    Big,
}

impl Workload {
    fn parse(s: &str, count: &str) -> Workload {
        match (s, count.parse()) {
            ("random", Ok(n)) => Workload::Random(n),
            ("big", _) => Workload::Big,
            _ => fail(format_args!("workload {s} {count}")),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Workload::Random(_) => "random",
            Workload::Big => "big",
        }
    }
    fn count(self) -> usize {
        match self {
            Workload::Random(n) => n,
            Workload::Big => 1,
        }
    }
    /// The subscriptions, as XSUB messages (`0x01` + topic).
    fn subscriptions(self) -> Vec<Vec<u8>> {
        match self {
            Workload::Random(n) => {
                let mut x = 0x9E37_79B9_7F4A_7C15u64;
                let mut next = || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x
                };
                (0..n)
                    .map(|_| {
                        let mut s = vec![1u8];
                        s.extend_from_slice(&next().to_le_bytes());
                        s.extend_from_slice(&next().to_le_bytes());
                        s
                    })
                    .collect()
            }
            Workload::Big => {
                let mut s = vec![1u8];
                s.extend((0..1usize << 20).map(|i| b'a' + (i % 7) as u8));
                vec![s]
            }
        }
    }
}

const WARM_UP: &[u8] = b"\x01warm-up";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("send") if args.len() == 4 => send(&args[1], Workload::parse(&args[2], &args[3])),
        Some("xpub") if args.len() == 4 => {
            xpub(&args[1], Workload::parse(&args[2], &args[3]));
        }
        None | Some(_) if args.len() <= 1 => {
            let count = args.first().map_or(Ok(200_000), |a| a.parse());
            let count = count.unwrap_or_else(|_| fail("usage: sub_mem [count]"));
            table(count);
        }
        _ => fail("usage: sub_mem [count]"),
    }
}

/// Runs the four measurements, each in its own process, and prints them.
fn table(count: usize) {
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(format_args!("exe: {e}")));
    println!("XPUB resident memory per subscription, tcp, sender a libzmq XSUB in another process");
    println!(
        "{:<8} {:<34} {:>14} {:>16}",
        "xpub", "subscriptions", "RSS growth", "per subscription"
    );
    for workload in [Workload::Random(count), Workload::Big] {
        for imp in ["ours", "libzmq"] {
            let out = Command::new(&exe)
                .args(["xpub", imp, workload.name(), &workload.count().to_string()])
                .output()
                .unwrap_or_else(|e| fail(format_args!("run {imp}: {e}")));
            let line = String::from_utf8_lossy(&out.stdout);
            let growth: u64 = line
                .trim()
                .parse()
                .unwrap_or_else(|_| fail(format_args!("{imp}: {line}")));
            let what = match workload {
                Workload::Random(n) => format!("{n} random 16-byte topics"),
                Workload::Big => "one 1 MiB topic".to_owned(),
            };
            println!(
                "{imp:<8} {what:<34} {:>11.1} MiB {:>14.0} B",
                growth as f64 / (1 << 20) as f64,
                growth as f64 / workload.count() as f64
            );
        }
    }
}

/// The sender: a libzmq XSUB; subscribes `WARM_UP`, waits for a line on stdin, sends the
/// workload, then stays connected until stdin closes.
fn send(endpoint: &str, workload: Workload) {
    let ctx = zmq::Context::new();
    let run = || -> zmq::Result<()> {
        let xsub = ctx.socket(zmq::XSUB)?;
        xsub.set_sndhwm(0)?;
        xsub.connect(endpoint)?;
        xsub.send(WARM_UP, 0)?;
        let mut stdin = BufReader::new(std::io::stdin());
        let mut line = String::new();
        let _ = stdin.read_line(&mut line);
        for s in workload.subscriptions() {
            xsub.send(s, 0)?;
        }
        while stdin.read_line(&mut line).is_ok_and(|n| n > 0) {}
        Ok(())
    };
    if let Err(e) = run() {
        fail(format_args!("sender: {e}"));
    }
}

fn spawn_sender(endpoint: &str, workload: Workload) -> Child {
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(format_args!("exe: {e}")));
    Command::new(exe)
        .args([
            "send",
            endpoint,
            workload.name(),
            &workload.count().to_string(),
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| fail(format_args!("spawn sender: {e}")))
}

/// Tells the sender to go, then waits for `count` reports and returns the RSS growth.
fn measure(sender: &mut Child, count: usize, mut recv: impl FnMut() -> Vec<u8>) -> u64 {
    let first = recv();
    if first != WARM_UP {
        fail("the warm-up subscription did not come first");
    }
    let base = rss();
    let mut go = sender.stdin.take();
    if let Some(stdin) = go.as_mut() {
        let _ = stdin.write_all(b"go\n");
        let _ = stdin.flush();
    }
    for _ in 0..count {
        let m = recv();
        if m.first() != Some(&1) {
            fail("not a subscription");
        }
    }
    let growth = rss().saturating_sub(base);
    drop(go); // the sender disconnects and exits
    let _ = sender.wait();
    growth
}

/// One measurement: prints the RSS growth in bytes.
fn xpub(imp: &str, workload: Workload) {
    let growth = match imp {
        "libzmq" => {
            let ctx = zmq::Context::new();
            let run = || -> zmq::Result<u64> {
                let xpub = ctx.socket(zmq::XPUB)?;
                xpub.set_rcvhwm(0)?;
                xpub.set_rcvtimeo(30_000)?;
                xpub.bind("tcp://127.0.0.1:*")?;
                let endpoint = xpub
                    .get_last_endpoint()?
                    .unwrap_or_else(|_| fail("endpoint"));
                let mut sender = spawn_sender(&endpoint, workload);
                Ok(measure(&mut sender, workload.count(), || {
                    xpub.recv_bytes(0)
                        .unwrap_or_else(|e| fail(format_args!("libzmq recv: {e}")))
                }))
            };
            run().unwrap_or_else(|e| fail(format_args!("libzmq: {e}")))
        }
        "ours" => {
            let rt = zmq_benches::runtime(false);
            let mut xpub = XPubSocket::new();
            let endpoint = rt
                .block_on(xpub.bind("tcp://127.0.0.1:0"))
                .unwrap_or_else(|e| fail(format_args!("bind: {e}")));
            let mut sender = spawn_sender(&endpoint, workload);
            measure(&mut sender, workload.count(), || {
                let m: Message = rt
                    .block_on(async {
                        tokio::time::timeout(Duration::from_secs(30), xpub.recv()).await
                    })
                    .unwrap_or_else(|_| fail("timed out"))
                    .unwrap_or_else(|e| fail(format_args!("recv: {e}")));
                m.first().map(|f| f.to_vec()).unwrap_or_default()
            })
        }
        _ => fail(format_args!("no such XPUB: {imp}")),
    };
    println!("{growth}");
}
