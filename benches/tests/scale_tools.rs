//! The scaling tools and the `--curve` throughput tools run and report, ours and libzmq's,
//! on small counts (what they measure is for `scripts/scale.sh`, not for tests).

use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    format!("tcp://{}", listener.local_addr().expect("addr"))
}

/// Runs a tool to completion (at most a minute) and returns its standard output.
fn run(exe: &str, args: &[&str]) -> String {
    let child = Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start tool");
    let out = wait(child, Duration::from_secs(60));
    assert!(out.status.success(), "{exe} {args:?} failed: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8")
}

fn wait(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("tool still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("output")
}

/// The number after `label: ` in a report.
fn value(report: &str, label: &str) -> f64 {
    report
        .lines()
        .find_map(|l| l.strip_prefix(label)?.strip_prefix(": "))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {label} in {report}"))
}

const OURS: &str = env!("CARGO_BIN_EXE_scale");
const LIBZMQ: &str = env!("CARGO_BIN_EXE_zmq_scale");

#[test]
fn fanout_delivers_everything_to_every_subscriber() {
    for tool in [OURS, LIBZMQ] {
        let report = run(tool, &["fanout", &endpoint(), "3", "500", "64"]);
        assert_eq!(value(&report, "lost"), 0.0, "{report}");
        assert!(value(&report, "delivered") > 0.0, "{report}");
    }
}

#[test]
fn router_serves_every_dealer() {
    for tool in [OURS, LIBZMQ] {
        let report = run(tool, &["router", &endpoint(), "5", "20"]);
        assert!(value(&report, "roundtrips") > 0.0, "{report}");
    }
}

#[test]
fn idle_router_counts_every_connection() {
    for tool in [OURS, LIBZMQ] {
        let ep = endpoint();
        let router = Command::new(tool)
            .args(["idle-router", &ep, "20"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start router");
        // The dealers connect until the router is there (libzmq reconnects).
        let mut dealers = Command::new(LIBZMQ)
            .args(["idle-dealers", &ep, "20"])
            .spawn()
            .expect("start dealers");
        let out = wait(router, Duration::from_secs(60));
        let _ = dealers.kill();
        let _ = dealers.wait();
        let report = String::from_utf8(out.stdout).expect("utf-8");
        assert_eq!(value(&report, "connections"), 20.0, "{report}");
        assert!(value(&report, "fds per connection") >= 1.0, "{report}");
    }
}

/// `--curve` on the throughput tools, every pairing of ours and libzmq's.
#[test]
fn curve_throughput_tools_interoperate() {
    let local = [
        env!("CARGO_BIN_EXE_local_thr"),
        env!("CARGO_BIN_EXE_zmq_local_thr"),
    ];
    let remote = [
        env!("CARGO_BIN_EXE_remote_thr"),
        env!("CARGO_BIN_EXE_zmq_remote_thr"),
    ];
    for l in local {
        for r in remote {
            let ep = endpoint();
            let receiver = Command::new(l)
                .args([&ep, "64", "200", "--curve"])
                .stdout(Stdio::piped())
                .spawn()
                .expect("start local");
            let mut sender = Command::new(r)
                .args([&ep, "64", "200", "--curve", "--hold"])
                .spawn()
                .expect("start remote");
            let out = wait(receiver, Duration::from_secs(60));
            let _ = sender.kill();
            let _ = sender.wait();
            let report = String::from_utf8(out.stdout).expect("utf-8");
            assert!(
                report.contains("message count: 200"),
                "{l} <- {r}: {report}"
            );
        }
    }
}
