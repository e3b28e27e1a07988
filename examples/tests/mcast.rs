//! `mcast_pub` and `mcast_sub` as processes: over tcp and ipc (a subscriber that connects
//! first, then a publisher that runs until the subscriber has its messages), over epgm on
//! the loopback of a network namespace, with their pyzmq counterparts (`examples/pyzmq/`,
//! libzmq with OpenPGM) across a veth pair between two namespaces (needs root and `ip`;
//! skipped, saying so, without), and their exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{bin, pyzmq_available, Program};

/// Guards against hangs only.
const GUARD: Duration = Duration::from_secs(120);

fn start(name: &str, prefix: &[&str], args: &[&str]) -> Program {
    let mut cmd = match prefix.split_first() {
        Some((program, rest)) => {
            let mut c = Command::new(program);
            c.args(rest).arg(bin(name));
            c
        }
        None => Command::new(bin(name)),
    };
    cmd.args(args);
    Program::spawn(cmd, format!("{name} {}", args.join(" ")))
}

/// The subscriber's lines: `count` consecutive numbers (it may join after the first few).
fn check_run(output: &str, count: usize) {
    let numbers: Vec<u64> = output
        .lines()
        .map(|l| {
            l.parse()
                .unwrap_or_else(|_| panic!("not a number: {l:?} in\n{output}"))
        })
        .collect();
    assert_eq!(numbers.len(), count, "{output}");
    let first = numbers[0];
    assert!(
        numbers.iter().copied().eq(first..first + count as u64),
        "not one unbroken run: {output}"
    );
}

/// A subscriber that connects first (and retries until the publisher binds), then a
/// publisher of far more messages than it waits for.
fn sub_then_pub(endpoint: &str, prefix: &[&str]) {
    let mut sub = start("mcast_sub", prefix, &[endpoint, "300"]);
    let publisher = start("mcast_pub", prefix, &[endpoint, "1000000", "2000"]);
    let out = sub.wait_success(GUARD);
    check_run(&out, 300);
    drop(publisher);
}

#[test]
fn mcast_sub_gets_an_unbroken_run_over_tcp() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    sub_then_pub(&format!("tcp://127.0.0.1:{port}"), &[]);
}

#[test]
fn mcast_sub_gets_an_unbroken_run_over_ipc() {
    let path = std::env::temp_dir().join(format!("zmq-mcast-{}.ipc", std::process::id()));
    sub_then_pub(&format!("ipc://{}", path.display()), &[]);
    // The killed publisher leaves its socket file.
    let _ = std::fs::remove_file(path);
}

#[test]
fn mcast_pub_exits_0_once_published() {
    let path = std::env::temp_dir().join(format!("zmq-mcast-pub-{}.ipc", std::process::id()));
    let mut publisher = start(
        "mcast_pub",
        &[],
        &[&format!("ipc://{}", path.display()), "10"],
    );
    publisher.wait_success(GUARD);
}

#[test]
fn mcast_sub_exits_1_after_10_s_of_silence() {
    let path = std::env::temp_dir().join(format!("zmq-mcast-none-{}.ipc", std::process::id()));
    let mut sub = start(
        "mcast_sub",
        &[],
        &[&format!("ipc://{}", path.display()), "1"],
    );
    let status = sub.wait_exit(GUARD);
    assert_eq!(status.code(), Some(1), "{}", sub.output());
}

#[test]
fn bad_command_lines_exit_2() {
    for (name, args) in [
        ("mcast_pub", &["tcp://127.0.0.1:1"][..]),
        ("mcast_pub", &["tcp://127.0.0.1:1", "ten"]),
        ("mcast_pub", &["tcp://127.0.0.1:1", "10", "0"]),
        ("mcast_sub", &["tcp://127.0.0.1:1"]),
    ] {
        let status = start(name, &[], args).wait_exit(GUARD);
        assert_eq!(status.code(), Some(2), "{name} {args:?}");
    }
}

/// A namespace with multicast routed over its loopback, deleted on drop.
struct Netns(String);

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Netns {
    fn new() -> Option<Netns> {
        Self::named("lo")
    }

    fn named(tag: &str) -> Option<Netns> {
        let name = format!("zmqx-{}-{tag}", std::process::id());
        if !ip(&["netns", "add", &name]) {
            eprintln!("SKIPPED: cannot make a network namespace (needs root and iproute2)");
            return None;
        }
        let ns = Netns(name);
        assert!(ip(&[
            "-n",
            &ns.0,
            "link",
            "set",
            "lo",
            "up",
            "multicast",
            "on"
        ]));
        if tag == "lo" {
            assert!(ip(&[
                "-n",
                &ns.0,
                "route",
                "add",
                "224.0.0.0/4",
                "dev",
                "lo"
            ]));
        }
        Some(ns)
    }

    fn exec(&self) -> [&str; 4] {
        ["ip", "netns", "exec", &self.0]
    }
}

/// Two namespaces joined by a veth pair, 10.79.0.1 in the first and 10.79.0.2 in the
/// second, multicast routed over it (libzmq's OpenPGM refuses loopback interfaces).
fn veth_pair(tag: &str) -> Option<(Netns, Netns)> {
    let a = Netns::named(&format!("{tag}a"))?;
    let b = Netns::named(&format!("{tag}b"))?;
    let (va, vb) = (format!("{tag}a"), format!("{tag}b"));
    assert!(ip(&[
        "-n", &a.0, "link", "add", &va, "type", "veth", "peer", "name", &vb, "netns", &b.0
    ]));
    for (ns, dev, addr) in [(&a, &va, "10.79.0.1/24"), (&b, &vb, "10.79.0.2/24")] {
        assert!(ip(&["-n", &ns.0, "addr", "add", addr, "dev", dev]));
        assert!(ip(&[
            "-n",
            &ns.0,
            "link",
            "set",
            dev,
            "up",
            "multicast",
            "on"
        ]));
        assert!(ip(&[
            "-n",
            &ns.0,
            "route",
            "add",
            "224.0.0.0/4",
            "dev",
            dev
        ]));
    }
    // Until the kernel marks both ends up (it may defer that), packets are dropped.
    for (ns, dev) in [(&a, &va), (&b, &vb)] {
        let start = std::time::Instant::now();
        loop {
            let out = Command::new("ip")
                .args(["-n", &ns.0, "-o", "link", "show", dev])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stdout).contains("state UP") {
                break;
            }
            assert!(start.elapsed() < GUARD, "{dev} not up");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Some((a, b))
}

/// A publisher in the first namespace, a subscriber in the second (each ours, or pyzmq's
/// when its flag is set); the subscriber gets an unbroken run of 300 of the publisher's 1,000.
fn across_veth(tag: &str, publisher: (&str, bool), subscriber: (&str, bool)) {
    if !pyzmq_available() {
        eprintln!("SKIPPED: /usr/bin/python3 has no pyzmq");
        return;
    }
    let Some((a, b)) = veth_pair(tag) else { return };
    let start_in = |ns: &Netns, (name, py): (&str, bool), args: &[&str]| {
        if py {
            let script = format!("{}/pyzmq/{name}.py", env!("CARGO_MANIFEST_DIR"));
            let mut cmd = Command::new("ip");
            cmd.args(&ns.exec()[1..])
                .args(["/usr/bin/python3", "-u", &script])
                .args(args);
            Program::spawn(cmd, format!("{name}.py {}", args.join(" ")))
        } else {
            start(name, &ns.exec(), args)
        }
    };
    // libzmq resolves an interface name as a host name first: both get the address.
    let group = "239.192.10.4:7583";
    let sub_ep = format!("epgm://10.79.0.2;{group}");
    let pub_ep = format!("epgm://10.79.0.1;{group}");
    let mut sub = start_in(&b, subscriber, &[&sub_ep, "300"]);
    let _publisher = start_in(&a, publisher, &[&pub_ep, "1000", "1000"]);
    check_run(&sub.wait_success(GUARD), 300);
}

#[test]
fn pyzmq_mcast_pub_feeds_our_mcast_sub_over_epgm() {
    across_veth("p2r", ("mcast_pub", true), ("mcast_sub", false));
}

#[test]
fn our_mcast_pub_feeds_pyzmq_mcast_sub_over_epgm() {
    across_veth("r2p", ("mcast_pub", false), ("mcast_sub", true));
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Over epgm both stay up as specified: the subscriber until its 300 messages, the
/// publisher for `recovery_ivl` after its 1,000; both exit 0.
#[test]
fn mcast_pub_and_sub_over_epgm_on_loopback() {
    let Some(ns) = Netns::new() else { return };
    let prefix = ns.exec();
    let endpoint = "epgm://lo;239.192.10.1:7580";
    let mut sub = start("mcast_sub", &prefix, &[endpoint, "300"]);
    let mut publisher = start("mcast_pub", &prefix, &[endpoint, "1000", "1000"]);
    check_run(&sub.wait_success(GUARD), 300);
    publisher.wait_success(GUARD);
}
