//! A test bed the tests build themselves: network namespaces (named after the process and a
//! counter, so tests run in parallel), joined by a veth pair, with multicast routed over it
//! and loss injected with `nft`. Every namespace is deleted on drop (with its devices). Code
//! runs inside a namespace on a thread of its own that has entered it (`setns`), with a
//! current-thread Tokio runtime, so every socket it opens lives there.
//!
//! Needs root and `ip` (iproute2) and `nft` (nftables): `scripts/install-deps.sh` installs
//! them. Without root, [`TestBed::new`] returns `None` and the test says it was skipped.

#![allow(dead_code, clippy::unwrap_used)]

use std::fs::File;
use std::future::Future;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::sched::{setns, CloneFlags};
use tokio::time::timeout;
use zmq_transports::multicast::{Delivery, PgmReceiver, PgmSender};
use zmtp_codec::Message;

/// Address of the veth end in namespace A.
pub const ADDR_A: &str = "10.77.0.1";
/// Address of the veth end in namespace B.
pub const ADDR_B: &str = "10.77.0.2";
/// The veth end in A.
pub const DEV_A: &str = "va";
/// The veth end in B.
pub const DEV_B: &str = "vb";

/// Guards against hangs only: the tests end on events.
pub const GUARD: Duration = Duration::from_secs(120);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Runs a command to completion; panics with its output when it fails.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} {args:?}: {e} (scripts/install-deps.sh installs it)")
        });
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether namespaces can be made here: root, and `ip` present.
pub fn available(test: &str) -> bool {
    let root = nix_uid_is_root();
    let ip = Command::new("ip")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !root || !ip {
        eprintln!(
            "SKIPPED {test}: network namespaces need root and iproute2 (root: {root}, ip: {ip})"
        );
    }
    root && ip
}

fn nix_uid_is_root() -> bool {
    // The owner of /proc/self is the process's effective user.
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// One namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// A new namespace with its loopback up and multicast on it.
    pub fn new(tag: &str) -> Netns {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("zmqt-{}-{n}-{tag}", std::process::id());
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up", "multicast", "on"]);
        ns
    }

    /// `ip -n <ns> args`.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Runs `program args` inside the namespace to completion.
    pub fn exec(&self, program: &str, args: &[&str]) -> String {
        let mut all = vec!["netns", "exec", &self.name, program];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Drops `percent` % of the packets entering this namespace that match `filter` (an
    /// nft match such as `udp dport 5555` or `ip protocol 113`), at random.
    pub fn drop_input(&self, filter: &str, percent: u32) {
        let rules = format!(
            "add table inet zmqt; \
             add chain inet zmqt input {{ type filter hook input priority 0; policy accept; }}; \
             add rule inet zmqt input {filter} numgen random mod 100 < {percent} counter drop"
        );
        self.exec("nft", &[&rules]);
    }

    /// How many packets the [`drop_input`](Self::drop_input) rule dropped.
    pub fn dropped(&self) -> u64 {
        let listing = self.exec("nft", &["list", "chain", "inet", "zmqt", "input"]);
        listing
            .split_whitespace()
            .skip_while(|w| *w != "packets")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// Runs `f` on a thread inside this namespace with a current-thread Tokio runtime.
    pub fn spawn<F, Fut, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
        T: Send + 'static,
    {
        let path = format!("/run/netns/{}", self.name);
        let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        std::thread::spawn(move || {
            setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(f())
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Two namespaces joined by a veth pair: `va` (10.77.0.1/24) in `a`, `vb` (10.77.0.2/24)
/// in `b`, `224.0.0.0/4` routed over it on both ends.
pub struct TestBed {
    pub a: Netns,
    pub b: Netns,
    capture: Option<std::process::Child>,
}

impl Drop for TestBed {
    fn drop(&mut self) {
        if let Some(mut tcpdump) = self.capture.take() {
            let _ = tcpdump.kill();
            let _ = tcpdump.wait();
        }
    }
}

impl TestBed {
    /// The test bed, or `None` (after saying why) where namespaces cannot be made.
    pub fn new(test: &str) -> Option<TestBed> {
        if !available(test) {
            return None;
        }
        let a = Netns::new("a");
        let b = Netns::new("b");
        a.ip(&[
            "link", "add", DEV_A, "type", "veth", "peer", "name", DEV_B, "netns", &b.name,
        ]);
        for (ns, dev, addr) in [(&a, DEV_A, ADDR_A), (&b, DEV_B, ADDR_B)] {
            ns.ip(&["addr", "add", &format!("{addr}/24"), "dev", dev]);
            ns.ip(&["link", "set", dev, "up", "multicast", "on"]);
            ns.ip(&["route", "add", "224.0.0.0/4", "dev", dev]);
        }
        // The kernel starts a veth's queue when it marks the link up, which it may defer (up
        // to a second); until then every packet is dropped. Wait for both ends.
        let start = std::time::Instant::now();
        for (ns, dev) in [(&a, DEV_A), (&b, DEV_B)] {
            while !ns.ip(&["-o", "link", "show", dev]).contains("state UP") {
                assert!(start.elapsed() < GUARD, "{dev} not up after {GUARD:?}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let capture = std::env::var_os("ZMQT_PCAP_DIR").map(|dir| capture(&b, test, dir));
        Some(TestBed { a, b, capture })
    }
}

/// For debugging (`ZMQT_PCAP_DIR=/tmp`): `tcpdump` on B's veth end into `<dir>/<test>.pcap`,
/// started before the test sends anything.
fn capture(b: &Netns, test: &str, dir: std::ffi::OsString) -> std::process::Child {
    let file = std::path::Path::new(&dir).join(format!("{test}.pcap"));
    let mut child = b
        .command("tcpdump")
        .args(["-i", DEV_B, "-U", "-w"])
        .arg(&file)
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcpdump");
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut stderr, &mut line).unwrap_or(0) > 0 {
        if line.contains("listening on") {
            break;
        }
        line.clear();
    }
    child
}

/// A namespace with only its loopback, `224.0.0.0/4` routed over it; `None` (after saying
/// why) where namespaces cannot be made.
pub fn loopback_ns(test: &str) -> Option<Netns> {
    if !available(test) {
        return None;
    }
    let ns = Netns::new("lo");
    ns.ip(&["route", "add", "224.0.0.0/4", "dev", "lo"]);
    Some(ns)
}

/// Reads deliveries until message number `last` (or a guard timeout): returns the message
/// numbers (the first frame, ASCII decimal) in arrival order, each checked against
/// `expected`, and every other delivery.
pub async fn collect(
    receiver: &mut PgmReceiver,
    expected: impl Fn(usize) -> Message,
    last: usize,
) -> (Vec<usize>, Vec<Delivery>) {
    let mut numbers = Vec::new();
    let mut other = Vec::new();
    while numbers.last() != Some(&last) {
        let d = timeout(GUARD, receiver.recv())
            .await
            .unwrap_or_else(|_| panic!("no delivery in {GUARD:?}; got {} messages", numbers.len()))
            .unwrap();
        match d {
            Delivery::Message { message: m, .. } => {
                let i: usize = std::str::from_utf8(&m[0]).unwrap().parse().unwrap();
                assert_eq!(m, expected(i), "message {i} corrupted");
                numbers.push(i);
            }
            d => other.push(d),
        }
    }
    (numbers, other)
}

/// Sends every message (each within the guard timeout).
pub async fn send_all(sender: &PgmSender, messages: impl IntoIterator<Item = Message>) {
    for m in messages {
        timeout(GUARD, sender.send(m)).await.unwrap().unwrap();
    }
}
