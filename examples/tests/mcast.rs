//! `mcast_pub` and `mcast_sub` as processes: over tcp and ipc (a subscriber that connects
//! first, then a publisher that runs until the subscriber has its messages), over epgm on
//! the loopback of a network namespace (needs root and `ip`; skipped, saying so, without),
//! and their exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{bin, Program};

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

impl Netns {
    fn new() -> Option<Netns> {
        let name = format!("zmqx-{}", std::process::id());
        let ip = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
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
        assert!(ip(&[
            "-n",
            &ns.0,
            "route",
            "add",
            "224.0.0.0/4",
            "dev",
            "lo"
        ]));
        Some(ns)
    }
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
    let prefix = ["ip", "netns", "exec", &ns.0];
    let endpoint = "epgm://lo;239.192.10.1:7580";
    let mut sub = start("mcast_sub", &prefix, &[endpoint, "300"]);
    let mut publisher = start("mcast_pub", &prefix, &[endpoint, "1000", "1000"]);
    check_run(&sub.wait_success(GUARD), 300);
    publisher.wait_success(GUARD);
}
