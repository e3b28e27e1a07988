//! `zmq_scale`: the workloads of `scale` on libzmq, through the `zmq` crate (see
//! `zmq_benches::scale`), and `zmq_scale idle-dealers <endpoint> <connections>`, the peer of
//! both routers' `idle-router`: that many DEALERs that connect, send one frame each and stay
//! connected until the process is killed.

use std::collections::HashSet;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use zmq_benches::scale::{
    data_message, fanout_report, idle_report, open_fds, router_report, SubTally, Workload, END,
    REPEAT, ROUNDTRIP_SIZE, STOP, WARM_UP,
};
use zmq_benches::{fail, rss_kib};

const USAGE: &str = "zmq_scale fanout <endpoint> <subscribers> <count> <size> | router <endpoint> <dealers> <roundtrips> | idle-router <endpoint> <connections> | idle-dealers <endpoint> <connections>";

/// libzmq's default limit of sockets per context is 1023 (ZMQ_MAX_SOCKETS), and the `zmq`
/// crate cannot raise it: many sockets are spread over contexts of this many.
const SOCKETS_PER_CONTEXT: usize = 1000;

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
        Workload::IdleDealers {
            endpoint,
            connections,
        } => idle_dealers(&endpoint, connections),
    }
}

/// The workloads this tool runs.
const ALLOWED: &[&str] = &["fanout", "router", "idle-router", "idle-dealers"];

fn check<T>(what: &str, result: zmq::Result<T>) -> T {
    result.unwrap_or_else(|e| fail(format_args!("{what}: {e}")))
}

/// `n` sockets of `kind`, over as many contexts as libzmq's socket limit needs.
fn sockets(n: usize, kind: zmq::SocketType) -> (Vec<zmq::Context>, Vec<zmq::Socket>) {
    let contexts: Vec<_> = (0..n.div_ceil(SOCKETS_PER_CONTEXT))
        .map(|_| zmq::Context::new())
        .collect();
    let sockets = (0..n)
        .map(|i| check("zmq_socket", contexts[i / SOCKETS_PER_CONTEXT].socket(kind)))
        .collect();
    (contexts, sockets)
}

fn fanout(endpoint: String, subscribers: usize, count: usize, size: usize) {
    let (bound_tx, bound_rx) = mpsc::channel::<()>();
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel::<Instant>();
    let bind_to = endpoint.clone();
    let publisher = std::thread::spawn(move || {
        let ctx = zmq::Context::new();
        let publisher = check("zmq_socket", ctx.socket(zmq::PUB));
        check("zmq_setsockopt", publisher.set_sndhwm(0));
        check("zmq_bind", publisher.bind(&bind_to));
        let _ = bound_tx.send(());
        while ready_rx.try_recv().is_err() {
            check("zmq_send", publisher.send(WARM_UP, 0));
            std::thread::sleep(REPEAT);
        }
        let body = data_message(size);
        let _ = started_tx.send(Instant::now());
        for _ in 0..count {
            check("zmq_send", publisher.send(&body[..], 0));
        }
        while done_rx.try_recv().is_err() {
            check("zmq_send", publisher.send(END, 0));
            std::thread::sleep(REPEAT);
        }
    });
    let _ = bound_rx.recv();
    let (_contexts, subs) = sockets(subscribers, zmq::SUB);
    for sub in &subs {
        check("zmq_setsockopt", sub.set_rcvhwm(0));
        check("zmq_setsockopt", sub.set_subscribe(b""));
        check("zmq_connect", sub.connect(&endpoint));
    }
    for sub in &subs {
        while check("zmq_recv", sub.recv_bytes(0)).first() != Some(&WARM_UP[0]) {}
    }
    let _ = ready_tx.send(());
    let mut tallies = vec![SubTally::default(); subscribers];
    let mut ended = vec![false; subscribers];
    let mut open = subscribers;
    let mut msg = zmq::Message::new();
    while open > 0 {
        let mut items: Vec<_> = subs.iter().map(|s| s.as_poll_item(zmq::POLLIN)).collect();
        check("zmq_poll", zmq::poll(&mut items, -1));
        let readable: Vec<bool> = items.iter().map(|i| i.is_readable()).collect();
        for (i, sub) in subs.iter().enumerate() {
            if !readable[i] {
                continue;
            }
            while sub.recv(&mut msg, zmq::DONTWAIT).is_ok() {
                match msg.first() {
                    Some(b'D') if !ended[i] => tallies[i].record(),
                    Some(&b) if b == END[0] && !ended[i] => {
                        ended[i] = true;
                        open -= 1;
                    }
                    _ => {}
                }
            }
        }
    }
    let _ = done_tx.send(());
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
        let ctx = zmq::Context::new();
        let router = check("zmq_socket", ctx.socket(zmq::ROUTER));
        check("zmq_bind", router.bind(&bind_to));
        let _ = bound_tx.send(());
        let mut stopped = 0;
        while stopped < dealers {
            let frames = check("zmq_recv", router.recv_multipart(0));
            if frames.last().map(Vec::as_slice) == Some(STOP) {
                stopped += 1;
            } else {
                check("zmq_send", router.send_multipart(frames, 0));
            }
        }
    });
    let _ = bound_rx.recv();
    let (_contexts, sockets) = sockets(dealers, zmq::DEALER);
    for dealer in &sockets {
        check("zmq_connect", dealer.connect(&endpoint));
    }
    let body = vec![0u8; ROUNDTRIP_SIZE];
    // One warm-up round trip each, then the clock.
    serve(&sockets, &body, 1);
    let clock = Instant::now();
    serve(&sockets, &body, roundtrips);
    let elapsed = clock.elapsed();
    for dealer in &sockets {
        check("zmq_send", dealer.send(STOP, 0));
    }
    let _ = echo.join();
    print!("{}", router_report(dealers, roundtrips, elapsed));
}

/// Every dealer does `roundtrips` round trips, one after another, all dealers at once.
fn serve(dealers: &[zmq::Socket], body: &[u8], roundtrips: usize) {
    let mut left = vec![roundtrips; dealers.len()];
    for dealer in dealers {
        check("zmq_send", dealer.send(body, 0));
    }
    let mut busy = dealers.len();
    let mut msg = zmq::Message::new();
    while busy > 0 {
        let mut items: Vec<_> = dealers
            .iter()
            .map(|s| s.as_poll_item(zmq::POLLIN))
            .collect();
        check("zmq_poll", zmq::poll(&mut items, -1));
        let readable: Vec<bool> = items.iter().map(|i| i.is_readable()).collect();
        for (i, dealer) in dealers.iter().enumerate() {
            if !readable[i] {
                continue;
            }
            while dealer.recv(&mut msg, zmq::DONTWAIT).is_ok() {
                left[i] -= 1;
                if left[i] > 0 {
                    check("zmq_send", dealer.send(body, 0));
                } else {
                    busy -= 1;
                }
            }
        }
    }
}

fn idle_router(endpoint: &str, connections: usize) {
    let ctx = zmq::Context::new();
    let router = check("zmq_socket", ctx.socket(zmq::ROUTER));
    let rss = rss_kib();
    let fds = open_fds();
    check("zmq_bind", router.bind(endpoint));
    let clock = Instant::now();
    let mut seen = HashSet::with_capacity(connections);
    while seen.len() < connections {
        let frames = check("zmq_recv", router.recv_multipart(0));
        if let Some(id) = frames.into_iter().next() {
            seen.insert(id);
        }
    }
    let elapsed = clock.elapsed();
    print!(
        "{}",
        idle_report(connections, elapsed, (rss, rss_kib()), (fds, open_fds()))
    );
}

fn idle_dealers(endpoint: &str, connections: usize) {
    let (_contexts, dealers) = sockets(connections, zmq::DEALER);
    for dealer in &dealers {
        check("zmq_connect", dealer.connect(endpoint));
        check("zmq_send", dealer.send("hello", 0));
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
