//! `scale fanout <endpoint> <subscribers> <count> <size>`, `scale router <endpoint> <dealers>
//! <roundtrips>`, `scale idle-router <endpoint> <connections>`: how our sockets cost as the
//! peers grow (see `zmq_benches::scale`; `zmq_scale` runs the same on libzmq and is the
//! dealers' side of `idle-router`; `scripts/scale.sh` runs both side by side).

use std::collections::HashSet;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use zmq_async::{DealerSocket, Message, PubSocket, RouterSocket, SubSocket};
use zmq_benches::scale::{
    data_message, fanout_report, idle_report, open_fds, router_report, SubTally, Workload, END,
    REPEAT, ROUNDTRIP_SIZE, STOP, WARM_UP,
};
use zmq_benches::{fail, rss_kib, runtime};

const USAGE: &str = "scale fanout <endpoint> <subscribers> <count> <size> | router <endpoint> <dealers> <roundtrips> | idle-router <endpoint> <connections>";

fn main() {
    match Workload::from_args(USAGE, ALLOWED) {
        Workload::Fanout {
            endpoint,
            subscribers,
            count,
            size,
        } => fanout(endpoint, subscribers, count, size),
        Workload::Router {
            endpoint,
            dealers,
            roundtrips,
        } => router(endpoint, dealers, roundtrips),
        Workload::IdleRouter {
            endpoint,
            connections,
        } => idle_router(&endpoint, connections),
        // `from_args` lets through only the workloads in ALLOWED.
        Workload::IdleDealers { .. } => fail("idle-dealers is zmq_scale's"),
    }
}

/// The workloads this tool runs.
const ALLOWED: &[&str] = &["fanout", "router", "idle-router"];

fn check<T>(what: &str, result: zmq_async::Result<T>) -> T {
    result.unwrap_or_else(|e| fail(format_args!("{what}: {e}")))
}

fn first_byte(msg: &Message) -> u8 {
    msg.first().and_then(|f| f.first().copied()).unwrap_or(0)
}

fn fanout(endpoint: String, subscribers: usize, count: usize, size: usize) {
    let (bound_tx, bound_rx) = mpsc::channel::<()>();
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel::<Instant>();
    let bind_to = endpoint.clone();
    let publisher = std::thread::spawn(move || {
        runtime(false).block_on(async move {
            let mut publisher = PubSocket::new();
            check("zmq_setsockopt", publisher.set_sndhwm(0));
            check("zmq_bind", publisher.bind(&bind_to).await);
            let _ = bound_tx.send(());
            while ready_rx.try_recv().is_err() {
                check("zmq_send", publisher.send(WARM_UP).await);
                tokio::time::sleep(REPEAT).await;
            }
            let _ = started_tx.send(Instant::now());
            for _ in 0..count {
                let msg = Message::from(Bytes::from(data_message(size)));
                check("zmq_send", publisher.send(msg).await);
            }
            while done_rx.try_recv().is_err() {
                check("zmq_send", publisher.send(END).await);
                tokio::time::sleep(REPEAT).await;
            }
        })
    });
    let _ = bound_rx.recv();
    let tallies = runtime(false).block_on(async move {
        let mut subs = Vec::with_capacity(subscribers);
        for _ in 0..subscribers {
            let mut sub = SubSocket::new();
            check("zmq_setsockopt", sub.set_rcvhwm(0));
            check("zmq_setsockopt", sub.subscribe(b""));
            check("zmq_connect", sub.connect(&endpoint).await);
            subs.push(sub);
        }
        for sub in &mut subs {
            while first_byte(&check("zmq_recv", sub.recv().await)) != WARM_UP[0] {}
        }
        let _ = ready_tx.send(());
        let tasks: Vec<_> = subs
            .into_iter()
            .map(|mut sub| {
                tokio::spawn(async move {
                    let mut tally = SubTally::default();
                    loop {
                        match first_byte(&check("zmq_recv", sub.recv().await)) {
                            b'D' => tally.record(),
                            b if b == END[0] => return tally,
                            _ => {}
                        }
                    }
                })
            })
            .collect();
        let mut tallies = Vec::with_capacity(tasks.len());
        for task in tasks {
            tallies.push(
                task.await
                    .unwrap_or_else(|e| fail(format_args!("task: {e}"))),
            );
        }
        let _ = done_tx.send(());
        tallies
    });
    let _ = publisher.join();
    let start = started_rx
        .recv()
        .unwrap_or_else(|e| fail(format_args!("publisher: {e}")));
    print!("{}", fanout_report(subscribers, count, start, &tallies));
}

fn router(endpoint: String, dealers: usize, roundtrips: usize) {
    let (bound_tx, bound_rx) = mpsc::channel::<()>();
    let bind_to = endpoint.clone();
    let echo = std::thread::spawn(move || {
        runtime(false).block_on(async move {
            let mut router = RouterSocket::new();
            check("zmq_bind", router.bind(&bind_to).await);
            let _ = bound_tx.send(());
            let mut stopped = 0;
            while stopped < dealers {
                let msg = check("zmq_recv", router.recv().await);
                if msg.last().map(|f| &f[..]) == Some(STOP) {
                    stopped += 1;
                } else {
                    check("zmq_send", router.send(msg).await);
                }
            }
        })
    });
    let _ = bound_rx.recv();
    let elapsed = runtime(false).block_on(async move {
        let start = Arc::new(tokio::sync::Barrier::new(dealers + 1));
        let mut tasks = Vec::with_capacity(dealers);
        for _ in 0..dealers {
            let mut dealer = DealerSocket::new();
            check("zmq_connect", dealer.connect(&endpoint).await);
            let start = start.clone();
            tasks.push(tokio::spawn(async move {
                let body = Bytes::from(vec![0u8; ROUNDTRIP_SIZE]);
                check("zmq_send", dealer.send(body.clone()).await);
                check("zmq_recv", dealer.recv().await);
                start.wait().await;
                for _ in 0..roundtrips {
                    check("zmq_send", dealer.send(body.clone()).await);
                    check("zmq_recv", dealer.recv().await);
                }
                check("zmq_send", dealer.send(STOP).await);
                // Keep the socket until the STOP is written.
                dealer
            }));
        }
        start.wait().await;
        let clock = Instant::now();
        let mut kept = Vec::with_capacity(tasks.len());
        for task in tasks {
            kept.push(
                task.await
                    .unwrap_or_else(|e| fail(format_args!("task: {e}"))),
            );
        }
        let elapsed = clock.elapsed();
        // Closing waits (linger) until each STOP is written.
        drop(kept);
        zmq_benches::wait_for_tasks().await;
        elapsed
    });
    let _ = echo.join();
    print!("{}", router_report(dealers, roundtrips, elapsed));
}

fn idle_router(endpoint: &str, connections: usize) {
    let report = runtime(false).block_on(async move {
        let mut router = RouterSocket::new();
        let rss = rss_kib();
        let fds = open_fds();
        check("zmq_bind", router.bind(endpoint).await);
        let clock = Instant::now();
        let mut seen = HashSet::with_capacity(connections);
        while seen.len() < connections {
            let msg = check("zmq_recv", router.recv().await);
            if let Some(id) = msg.first() {
                seen.insert(id.clone());
            }
        }
        idle_report(
            connections,
            clock.elapsed(),
            (rss, rss_kib()),
            (fds, open_fds()),
        )
    });
    print!("{report}");
}
