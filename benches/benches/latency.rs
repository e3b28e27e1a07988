//! REQ/REP round trip of 64 B over tcp in one process: ours (current-thread and
//! multi-thread runtime) against libzmq (the `zmq` crate) and a raw tcp ping-pong
//! (`TCP_NODELAY`, blocking calls) as the floor.
//!
//! ```sh
//! cargo bench -p zmq-benches --bench latency
//! ```
//!
//! The REP (or echo) end runs on its own thread, the REQ on the bench thread; criterion's
//! time per iteration is one round trip (libzmq's `remote_lat` prints half of that).
//! `ours-ct`: each end has a current-thread runtime; `ours-mt`: both are tasks of one
//! multi-thread runtime.

// criterion_group!/criterion_main! generate undocumented functions.
#![allow(missing_docs)]

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use zmq_async::{Message, RepSocket, ReqSocket};
use zmq_benches::payload;

const SIZE: usize = 64;

async fn echo(mut rep: RepSocket) {
    while let Ok(msg) = rep.recv().await {
        if rep.send(msg).await.is_err() {
            break;
        }
    }
}

fn ours_ct() -> impl FnMut(u64) -> Duration {
    let rt = zmq_benches::runtime(false);
    let mut rep = RepSocket::new();
    let ep = rt.block_on(rep.bind("tcp://127.0.0.1:0")).expect("bind");
    std::thread::spawn(move || zmq_benches::runtime(false).block_on(echo(rep)));
    let mut req = ReqSocket::new();
    rt.block_on(req.connect(&ep)).expect("connect");
    let mut msg = Some(Message::from(payload(SIZE)));
    move |iters| {
        rt.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                req.send(msg.take().expect("message")).await.expect("send");
                msg = Some(req.recv().await.expect("recv"));
            }
            start.elapsed()
        })
    }
}

fn ours_mt() -> impl FnMut(u64) -> Duration {
    let rt = zmq_benches::runtime(true);
    let mut rep = RepSocket::new();
    let ep = rt.block_on(rep.bind("tcp://127.0.0.1:0")).expect("bind");
    rt.spawn(echo(rep));
    let mut req = Some(ReqSocket::new());
    rt.block_on(req.as_mut().expect("socket").connect(&ep))
        .expect("connect");
    move |iters| {
        let mut socket = req.take().expect("socket");
        let task = rt.spawn(async move {
            let mut msg = Message::from(payload(SIZE));
            let start = Instant::now();
            for _ in 0..iters {
                socket.send(msg).await.expect("send");
                msg = socket.recv().await.expect("recv");
            }
            (start.elapsed(), socket)
        });
        let (elapsed, socket) = rt.block_on(task).expect("requester task");
        req = Some(socket);
        elapsed
    }
}

fn libzmq() -> impl FnMut(u64) -> Duration {
    let ctx = zmq::Context::new();
    let rep = ctx.socket(zmq::REP).expect("socket");
    rep.bind("tcp://127.0.0.1:*").expect("bind");
    let ep = rep
        .get_last_endpoint()
        .expect("endpoint")
        .expect("utf-8 endpoint");
    std::thread::spawn(move || {
        let mut msg = zmq::Message::new();
        while rep.recv(&mut msg, 0).is_ok() {
            let reply = std::mem::replace(&mut msg, zmq::Message::new());
            if rep.send(reply, 0).is_err() {
                break;
            }
        }
    });
    let req = ctx.socket(zmq::REQ).expect("socket");
    req.connect(&ep).expect("connect");
    let mut msg = zmq::Message::with_size(SIZE);
    move |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            let request = std::mem::replace(&mut msg, zmq::Message::new());
            req.send(request, 0).expect("send");
            req.recv(&mut msg, 0).expect("recv");
        }
        start.elapsed()
    }
}

fn raw() -> impl FnMut(u64) -> Duration {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut client = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
    let (mut server, _) = l.accept().expect("accept");
    client.set_nodelay(true).expect("nodelay");
    server.set_nodelay(true).expect("nodelay");
    std::thread::spawn(move || {
        let mut buf = [0u8; SIZE];
        while server.read_exact(&mut buf).is_ok() {
            if server.write_all(&buf).is_err() {
                break;
            }
        }
    });
    let mut buf = [0u8; SIZE];
    move |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            client.write_all(&buf).expect("write");
            client.read_exact(&mut buf).expect("read");
        }
        start.elapsed()
    }
}

fn latency(c: &mut Criterion) {
    let mut ours_ct = ours_ct();
    let mut ours_mt = ours_mt();
    let mut libzmq = libzmq();
    let mut raw = raw();
    let mut group = c.benchmark_group("latency/tcp/64");
    group.bench_function(BenchmarkId::from_parameter("ours-ct"), |b| {
        b.iter_custom(&mut ours_ct)
    });
    group.bench_function(BenchmarkId::from_parameter("ours-mt"), |b| {
        b.iter_custom(&mut ours_mt)
    });
    group.bench_function(BenchmarkId::from_parameter("libzmq"), |b| {
        b.iter_custom(&mut libzmq)
    });
    group.bench_function(BenchmarkId::from_parameter("raw"), |b| {
        b.iter_custom(&mut raw)
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = latency
}
criterion_main!(benches);
