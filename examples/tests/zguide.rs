//! The guide's programs working together, as processes on the guide's fixed
//! ports (5555-5560, and `wuproxy`'s 8100): ours with ours, and ours with pyzmq's (libzmq's) for
//! every pair. The fixed ports are taken by one scenario at a time
//! ([`common::lock_guide_ports`]); the servers run with `ZMQ_EXAMPLES_FAST=1`.
//!
//! The pyzmq scenarios need `/usr/bin/python3` with pyzmq (Debian's
//! `python3-zmq`, installed by `scripts/install-deps.sh`); without it they
//! are skipped with a message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{count, lock_guide_ports, pyzmq_available, Impl, Program};
use Impl::{Py, Rust};

/// How long a client may take; the scenarios take about a second each.
const DEADLINE: Duration = Duration::from_secs(30);

/// hwclient <-> hwserver: ten "Hello"s, ten "World"s.
fn hello_world(server: Impl, client: Impl) {
    let server = Program::start(server, "hwserver", &[]);
    let mut client = Program::start(client, "hwclient", &[]);
    let client_out = client.wait_success(DEADLINE);
    let server_out = server.stop();
    let (client_label, server_label) = (&client.label, "hwserver");
    assert_eq!(
        count(&client_out, "Received"),
        10,
        "{client_label}:\n{client_out}"
    );
    assert_eq!(
        count(&server_out, "Received"),
        10,
        "{server_label}:\n{server_out}"
    );
    // pyzmq prints the bytes it got: ours sent exactly "Hello" and "World".
    if client_out.contains("b'") {
        assert_eq!(count(&client_out, "b'World'"), 10, "{client_out}");
    }
    if server_out.contains("b'") {
        assert_eq!(count(&server_out, "b'Hello'"), 10, "{server_out}");
    }
}

/// wuclient <- wuserver: 100 updates for zipcodes starting with "10".
fn weather(server: Impl, client: Impl) {
    let server = Program::start(server, "wuserver", &[]);
    let client = Program::start(client, "wuclient", &["10"]);
    check_weather(client);
    drop(server);
}

/// wuclient <- wuproxy (XSUB to 5556, XPUB on 8100) <- wuserver: the client's
/// subscription goes up through the proxy, its updates come down.
fn weather_through_proxy(server: Impl) {
    let server = Program::start(server, "wuserver", &[]);
    let proxy = Program::start(Rust, "wuproxy", &[]);
    let client = Program::start(Rust, "wuclient", &["10", "tcp://localhost:8100"]);
    check_weather(client);
    drop(proxy);
    drop(server);
}

/// The client averaged 100 plausible temperatures for zipcode "10".
fn check_weather(mut client: Program) {
    let out = client.wait_success(DEADLINE);
    let line = out
        .lines()
        .find(|l| l.starts_with("Average temperature for zipcode '10' was "))
        .unwrap_or_else(|| panic!("{}: no average in\n{out}", client.label));
    let average: i32 = line
        .trim_start_matches("Average temperature for zipcode '10' was ")
        .trim_end_matches('F')
        .parse()
        .unwrap_or_else(|e| panic!("{line}: {e}"));
    // The guide's temperatures are -80..=134.
    assert!((-80..=134).contains(&average), "{line}");
}

/// taskvent -> 2 x taskwork -> tasksink. With `press_enter`, the ventilator
/// waits for Enter as in the guide, given once the workers had a second to
/// connect, and both workers must get tasks; otherwise it runs `--no-wait`.
fn divide_and_conquer(vent: Impl, workers: [Impl; 2], sink: Impl, press_enter: bool) {
    let mut sink = Program::start(sink, "tasksink", &[]);
    let workers = workers.map(|w| Program::start(w, "taskwork", &[]));
    let args: &[&str] = if press_enter { &[] } else { &["--no-wait"] };
    let mut vent = Program::start(vent, "taskvent", args);
    if press_enter {
        std::thread::sleep(Duration::from_secs(1));
        vent.send_line("");
    }
    let vent_out = vent.wait_success(DEADLINE);
    let sink_out = sink.wait_success(DEADLINE);
    let worker_outs = workers.map(Program::stop);

    assert!(
        vent_out.contains("Total expected cost: "),
        "{}:\n{vent_out}",
        vent.label
    );
    assert!(
        sink_out.contains("Total elapsed time: "),
        "{}:\n{sink_out}",
        sink.label
    );
    // The sink prints ':' for every tenth result and '.' for the others.
    let progress = sink_out.split("Total").next().unwrap_or_default();
    assert_eq!(count(progress, ":"), 10, "{sink_out}");
    assert_eq!(count(progress, "."), 90, "{sink_out}");
    // Each worker prints "<msec>." per task: 100 tasks in all.
    let per_worker = worker_outs.each_ref().map(|o| count(o, "."));
    assert_eq!(per_worker.iter().sum::<usize>(), 100, "{worker_outs:?}");
    if press_enter {
        assert!(
            per_worker.iter().all(|&n| n > 0),
            "both workers were ready, both should get tasks: {per_worker:?}"
        );
    }
}

/// rrclient -> broker (ROUTER 5559 / DEALER 5560) -> rrworker(s).
fn request_reply(broker: &str, client: Impl, workers: &[Impl]) {
    let broker = Program::start(Rust, broker, &[]);
    let workers: Vec<Program> = workers
        .iter()
        .map(|&w| Program::start(w, "rrworker", &[]))
        .collect();
    let mut client = Program::start(client, "rrclient", &[]);
    let out = client.wait_success(DEADLINE);
    let worker_outs: Vec<String> = workers.into_iter().map(Program::stop).collect();
    let broker_out = broker.stop();
    assert_eq!(
        count(&out, "Received reply"),
        10,
        "{}:\n{out}\nbroker:\n{broker_out}",
        client.label
    );
    assert_eq!(count(&out, "World"), 10, "{out}");
    let served: usize = worker_outs
        .iter()
        .map(|o| count(o, "Received request"))
        .sum();
    assert_eq!(served, 10, "{worker_outs:?}");
    for o in &worker_outs {
        assert_eq!(
            count(o, "Received request"),
            count(o, "Hello"),
            "the worker got the client's bytes: {o}"
        );
    }
}

#[test]
fn guide_programs_work_together() {
    let _ports = lock_guide_ports();
    hello_world(Rust, Rust);
    divide_and_conquer(Rust, [Rust, Rust], Rust, true);
    divide_and_conquer(Rust, [Rust, Rust], Rust, false);
    request_reply("rrbroker", Rust, &[Rust]);
    request_reply("msgqueue", Rust, &[Rust, Rust]);
}

#[test]
fn guide_programs_against_pyzmq() {
    if !pyzmq_available() {
        eprintln!(
            "SKIPPED: /usr/bin/python3 cannot import zmq; install python3-zmq \
             (bash scripts/install-deps.sh) to run our programs against libzmq's"
        );
        return;
    }
    let _ports = lock_guide_ports();
    hello_world(Py, Rust);
    hello_world(Rust, Py);
    weather(Py, Rust);
    weather_through_proxy(Py);
    divide_and_conquer(Py, [Rust, Py], Rust, true);
    divide_and_conquer(Rust, [Py, Rust], Py, true);
    divide_and_conquer(Rust, [Py, Py], Rust, false);
    request_reply("rrbroker", Py, &[Py]);
    request_reply("rrbroker", Rust, &[Py, Rust]);
    request_reply("msgqueue", Py, &[Rust, Py]);
}

/// Our `wuserver` with our and pyzmq's `wuclient`.
#[test]
fn our_weather_server() {
    let _ports = lock_guide_ports();
    weather(Rust, Rust);
    weather_through_proxy(Rust);
    if pyzmq_available() {
        weather(Rust, Py);
    }
}
