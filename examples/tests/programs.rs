//! The self-contained examples (the demo and the Stream/Sink ones): each runs
//! its pattern in one process over tcp on 127.0.0.1 with OS-chosen ports, so
//! these run in parallel with anything.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{bin, count, Program};

fn run(name: &str) -> String {
    let mut program = Program::spawn(Command::new(bin(name)), name.to_owned());
    program.wait_success(Duration::from_secs(20))
}

#[test]
fn demo_runs_every_pattern_in_under_five_seconds() {
    let started = Instant::now();
    let out = run("demo");
    assert!(started.elapsed() < Duration::from_secs(5), "{out}");
    for expected in [
        "REQ sent \"Hello 3\", REP replied \"World 3\"",
        "SUB got only [\"weather.nyc 21C\", \"weather.sfo 15C fog\"]",
        "sink got 1^2=1 2^2=4 3^2=9 4^2=16 5^2=25 6^2=36 7^2=49 8^2=64 9^2=81 10^2=100",
        "DEALER alice got \"hello alice\"",
        "DEALER bob got \"hello bob\"",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in\n{out}");
    }
}

#[test]
fn pipeline_forward_streams_every_task_through() {
    let out = run("pipeline_forward");
    for i in 1..=5 {
        assert!(out.contains(&format!("streamed: TASK {i}\n")), "{out}");
    }
}

#[test]
fn select_two_reads_both_sockets() {
    let out = run("select_two");
    assert_eq!(count(&out, "task:"), 3, "{out}");
    assert_eq!(count(&out, "weather: 10001 72 40"), 3, "{out}");
    assert!(!out.contains("90210"), "the publisher filters: {out}");
}

#[test]
fn sub_filter_keeps_only_hot_updates_in_its_zipcodes() {
    let out = run("sub_filter");
    let hot: Vec<&str> = out.lines().filter(|l| l.starts_with("hot: ")).collect();
    assert_eq!(hot.len(), 5, "{out}");
    for line in hot {
        // "hot: zipcode 1xxxx at NNNF, NN% humidity"
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert!(fields[2].starts_with('1') && fields[2].len() == 5, "{line}");
        let temp: i32 = fields[4].trim_end_matches("F,").parse().unwrap();
        assert!((100..=134).contains(&temp), "{line}");
    }
}

#[test]
fn radio_dish_delivers_each_dish_its_groups() {
    let out = run("radio_dish");
    for round in 0..6 {
        assert!(
            out.contains(&format!("weather got [weather] round {round}: sunny")),
            "{out}"
        );
        let commuter = if round < 3 {
            format!("commuter got [traffic] round {round}: jam on the ring road")
        } else {
            format!("commuter got [weather] round {round}: sunny")
        };
        assert!(out.contains(&commuter), "{out}");
    }
    assert!(!out.contains("weather got [traffic]"), "{out}");
}

#[test]
fn client_server_answers_every_request_from_many_tasks() {
    let out = run("client_server");
    assert!(
        out.contains("100 requests from 4 tasks on one CLIENT, answered by 3 tasks on one SERVER"),
        "{out}"
    );
    assert_eq!(count(&out, "answered by worker"), 4, "{out}");
}
