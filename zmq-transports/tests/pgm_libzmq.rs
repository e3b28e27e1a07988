//! Interop over `epgm://` (and raw `pgm://`) with libzmq (Debian's libzmq 4.3.4, built with
//! OpenPGM 5.3) through pyzmq, across the veth pair of the namespace test bed (`netns/`), with
//! `nft` dropping packets at random into both namespaces: libzmq's PUB to our receivers (one
//! of them joining midway), and our sender to libzmq's SUBs. Every message must arrive once,
//! in order. Needs root, `ip`, `nft` and Debian's `python3-zmq` (`scripts/install-deps.sh`);
//! skipped without root.
//!
//! ```sh
//! cargo test -p zmq-transports --test pgm_libzmq -- --nocapture
//! ```

#![allow(clippy::unwrap_used)]

mod netns;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::timeout;
use zmq_transports::multicast::{PgmOptions, PgmReceiver, PgmSender};
use zmq_transports::Endpoint;
use zmtp_codec::Message;

use netns::{Netns, TestBed, ADDR_B, DEV_A, DEV_B, GUARD};

const RATE_KBIT: u32 = 20_000;
const PORT: u16 = 7555;

/// Message `i` on both sides: its number, and for three in four a body of `i * 37 % 3000`
/// bytes of `i % 251` (Python builds the same).
fn message(i: usize) -> Message {
    let mut m = Message::from(i.to_string());
    if i % 4 != 0 {
        m.push_back(vec![(i % 251) as u8; i * 37 % 3000]);
    }
    m
}

/// Both scripts: [`message`] in Python, and a socket of the given type with `ZMQ_RATE`, no
/// high-water mark, no linger, connected to the endpoint (`argv[1]`; `argv[2]` is the count,
/// `argv[3]` the rate).
const PY_COMMON: &str = r#"
import sys, zmq
endpoint, n, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def message(i):
    m = [str(i).encode()]
    if i % 4:
        m.append(bytes([i % 251]) * (i * 37 % 3000))
    return m

def socket(kind, **options):
    s = zmq.Context.instance().socket(kind)
    for option, value in [(zmq.RATE, rate), (zmq.SNDHWM, 0), (zmq.RCVHWM, 0), (zmq.LINGER, 0)]:
        s.setsockopt(option, value)
    for option, value in options.items():
        s.setsockopt(getattr(zmq, option), value)
    s.connect(endpoint)
    return s
"#;

/// libzmq's PUB: sends messages 0..n/2, waits for a line on its standard input, sends the
/// rest, prints `sent`, serves repairs until another line arrives.
const PY_PUB: &str = r#"
s = socket(zmq.PUB)
for i in range(n // 2):
    s.send_multipart(message(i))
sys.stdin.readline()
for i in range(n // 2, n):
    s.send_multipart(message(i))
print("sent", flush=True)
sys.stdin.readline()
s.close()
"#;

/// libzmq's SUB: prints `ready` at the first `warmup` message, then `<number> ok` (or
/// `corrupt`) for each of `n` numbered messages; exits 1 after 30 s without a message.
const PY_SUB: &str = r#"
s = socket(zmq.SUB, RCVTIMEO=30000, SUBSCRIBE=b"")
ready, got = False, 0
while got < n:
    try:
        m = s.recv_multipart()
    except zmq.Again:
        print("timeout", flush=True)
        sys.exit(1)
    if m[0] == b"warmup":
        if not ready:
            print("ready", flush=True)
            ready = True
        continue
    i = int(m[0])
    print(i, "ok" if m == message(i) else "corrupt", flush=True)
    got += 1
s.close()
"#;

/// Debian's Python with pyzmq (the `python3` first on PATH may be another one).
fn python() -> &'static str {
    for p in ["/usr/bin/python3", "python3"] {
        let ok = std::process::Command::new(p)
            .args(["-c", "import zmq; assert zmq.has('pgm')"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return p;
        }
    }
    panic!("no python3 with pyzmq built with PGM: scripts/install-deps.sh installs python3-zmq");
}

/// Starts a Python script in a namespace, its output lines forwarded to a channel.
fn spawn_py(ns: &Netns, script: &str, args: &[String]) -> (Child, std_mpsc::Receiver<String>) {
    let source = format!("{PY_COMMON}\n{script}");
    let mut child = ns
        .command(python())
        .arg("-c")
        .arg(source)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std_mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

fn options() -> PgmOptions {
    let mut o = PgmOptions::default();
    o.rate_kbit = RATE_KBIT;
    o
}

fn bed_with_loss(test: &str, scheme: &str, loss: u32) -> Option<TestBed> {
    let bed = TestBed::new(test)?;
    if loss > 0 {
        let filter = match scheme {
            "pgm" => "ip protocol 113".to_owned(),
            _ => format!("udp dport {PORT}"),
        };
        bed.a.drop_input(&filter, loss);
        bed.b.drop_input(&filter, loss);
    }
    Some(bed)
}

fn report(test: &str, bed: &TestBed, loss: u32, n: usize) {
    if loss > 0 {
        eprintln!(
            "{test}: {n} messages, {loss}% loss: dropped {} packets into B, {} into A",
            bed.b.dropped(),
            bed.a.dropped()
        );
    }
}

/// libzmq's PUB in A, two of our receivers in B from the start and a third that joins
/// mid-stream: once the first two have the first half, which the PUB sends before it waits
/// for the third to open. (Without the wait the PUB could be done before the third opens:
/// with a repair or two on the way to the first half, it was, and the third got nothing.)
fn libzmq_pub_to_ours(test: &str, scheme: &str, loss: u32, n: usize) {
    let Some(bed) = bed_with_loss(test, scheme, loss) else {
        return;
    };
    let group = "239.192.7.4";
    let ours: Endpoint = format!("{scheme}://{DEV_B};{group}:{PORT}")
        .parse()
        .unwrap();
    let (ready_tx, ready_rx) = oneshot::channel();
    let (late_tx, late_rx) = std_mpsc::channel();
    let receivers = bed.b.spawn(move || async move {
        let o = options();
        let mut r1 = PgmReceiver::open(&ours, &o).await.unwrap();
        let mut r2 = PgmReceiver::open(&ours, &o).await.unwrap();
        ready_tx.send(()).unwrap();
        let half = n / 2 - 1;
        let (mut a, mut b) = tokio::join!(
            netns::collect(&mut r1, message, half),
            netns::collect(&mut r2, message, half)
        );
        let mut r3 = PgmReceiver::open(&ours, &o).await.unwrap();
        late_tx.send(()).unwrap();
        let (a2, b2, late) = tokio::join!(
            netns::collect(&mut r1, message, n - 1),
            netns::collect(&mut r2, message, n - 1),
            netns::collect(&mut r3, message, n - 1)
        );
        for (x, y) in [(&mut a, a2), (&mut b, b2)] {
            x.0.extend(y.0);
            x.1.extend(y.1);
        }
        (a, b, late)
    });
    ready_rx.blocking_recv().unwrap();
    let (mut publisher, lines) = spawn_py(
        &bed.a,
        PY_PUB,
        &[
            format!("{scheme}://{ADDR_A};{group}:{PORT}", ADDR_A = netns::ADDR_A),
            n.to_string(),
            RATE_KBIT.to_string(),
        ],
    );
    let mut stdin = publisher.stdin.take().unwrap();
    late_rx.recv_timeout(GUARD).unwrap();
    writeln!(stdin, "go on").unwrap();
    let ((n1, o1), (n2, o2), (n3, o3)) = receivers.join().unwrap();
    assert_eq!(lines.recv_timeout(GUARD).as_deref(), Ok("sent"));
    writeln!(stdin, "done").unwrap();
    assert!(publisher.wait().unwrap().success());
    report(test, &bed, loss, n);
    eprintln!("{test}: the late joiner's first message: {}", n3[0]);
    let all: Vec<usize> = (0..n).collect();
    assert_eq!(n1, all, "receiver 1");
    assert_eq!(n2, all, "receiver 2");
    assert!(o1.is_empty() && o2.is_empty(), "{o1:?} {o2:?}");
    // The late joiner gets an unbroken run up to the last message.
    assert_eq!(n3, (n3[0]..n).collect::<Vec<_>>(), "late joiner");
    assert!(o3.is_empty(), "{o3:?}");
}

/// Our sender in A, two libzmq SUBs in B.
fn ours_to_libzmq_subs(test: &str, scheme: &str, loss: u32, n: usize) {
    let Some(bed) = bed_with_loss(test, scheme, loss) else {
        return;
    };
    let group = "239.192.7.5";
    let ours: Endpoint = format!("{scheme}://{DEV_A};{group}:{PORT}")
        .parse()
        .unwrap();
    // By address: OpenPGM resolves an interface name as a host name first, and inside the
    // namespace the resolver's server is unreachable, which OpenPGM takes as an error.
    let args = [
        format!("{scheme}://{ADDR_B};{group}:{PORT}"),
        n.to_string(),
        RATE_KBIT.to_string(),
    ];
    let subs = [
        spawn_py(&bed.b, PY_SUB, &args),
        spawn_py(&bed.b, PY_SUB, &args),
    ];
    let (ready_tx, ready_rx) = oneshot::channel::<()>();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let sender = bed.a.spawn(move || async move {
        // libzmq joins the group some time after its connect returns: a first session sends
        // warm-up messages until both subscribers have seen one.
        let probe = PgmSender::open(&ours, &options()).await.unwrap();
        let warm = async {
            loop {
                probe.send(Message::from("warmup")).await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::select! {
            _ = warm => unreachable!(),
            r = timeout(GUARD, ready_rx) => r.unwrap().unwrap(),
        }
        probe.close(Duration::ZERO).await.unwrap();
        // The session under test starts once they listen, so they hear its first SPMs. (An
        // OpenPGM receiver that joins a session mid-stream, before any SPM, declares every gap
        // it sees before the first SPM lost, and libzmq then at times delivers corrupt
        // messages or stalls: with libzmq's own PUB too. See docs/LIBZMQ-WIRE.md.)
        let sender = PgmSender::open(&ours, &options()).await.unwrap();
        netns::send_all(&sender, (0..n).map(message)).await;
        // Repairs are served until both subscribers are done.
        timeout(GUARD, done_rx).await.unwrap().unwrap();
        sender.close(Duration::ZERO).await.unwrap();
    });
    let mut subs: Vec<_> = subs.into_iter().collect();
    for (_, lines) in &subs {
        assert_eq!(lines.recv_timeout(GUARD).as_deref(), Ok("ready"));
    }
    ready_tx.send(()).unwrap();
    let mut outputs = Vec::new();
    for (child, lines) in &mut subs {
        let status = child.wait().unwrap();
        outputs.push((status, lines.iter().collect::<Vec<_>>()));
    }
    done_tx.send(()).unwrap();
    sender.join().unwrap();
    report(test, &bed, loss, n);
    let expected: Vec<String> = (0..n).map(|i| format!("{i} ok")).collect();
    for (k, (status, lines)) in outputs.iter().enumerate() {
        assert!(status.success(), "libzmq SUB {k}: {status}, {lines:?}");
        assert_eq!(lines, &expected, "libzmq SUB {k}");
    }
}

#[test]
fn libzmq_pub_to_our_receivers() {
    libzmq_pub_to_ours("libzmq_pub_to_our_receivers", "epgm", 0, 1000);
}

#[test]
fn libzmq_pub_to_our_receivers_at_5_percent_loss() {
    libzmq_pub_to_ours(
        "libzmq_pub_to_our_receivers_at_5_percent_loss",
        "epgm",
        5,
        2000,
    );
}

#[test]
fn our_sender_to_libzmq_subs() {
    ours_to_libzmq_subs("our_sender_to_libzmq_subs", "epgm", 0, 1000);
}

#[test]
fn our_sender_to_libzmq_subs_at_5_percent_loss() {
    ours_to_libzmq_subs(
        "our_sender_to_libzmq_subs_at_5_percent_loss",
        "epgm",
        5,
        2000,
    );
}

#[test]
fn libzmq_pub_to_our_receivers_over_raw_pgm_at_5_percent_loss() {
    let test = "libzmq_pub_to_our_receivers_over_raw_pgm_at_5_percent_loss";
    libzmq_pub_to_ours(test, "pgm", 5, 1000);
}

#[test]
fn our_sender_to_libzmq_subs_over_raw_pgm_at_5_percent_loss() {
    let test = "our_sender_to_libzmq_subs_over_raw_pgm_at_5_percent_loss";
    ours_to_libzmq_subs(test, "pgm", 5, 1000);
}
