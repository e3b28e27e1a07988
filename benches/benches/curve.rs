//! CURVE throughput over tcp, 1 KiB messages, PUSH → PULL: our sockets and libzmq's
//! (the `zmq` crate, system libzmq) in the same run.
//!
//! ```sh
//! taskset -c 0,1 cargo bench -p zmq-benches --bench curve
//! ```

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use zmq_async::{Message, PullSocket, PushSocket};
use zmtp_codec::CurveKeyPair;

const SIZE: usize = 1024;

fn ours(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = CurveKeyPair::generate();
    let client = CurveKeyPair::generate();
    let (mut push, mut pull) = rt.block_on(async {
        let mut pull = PullSocket::new();
        pull.set_curve_keypair(&server).unwrap();
        pull.set_curve_server(true).unwrap();
        let ep = pull.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut push = PushSocket::new();
        push.set_curve_keypair(&client).unwrap();
        push.set_curve_serverkey(server.public).unwrap();
        push.connect(&ep).await.unwrap();
        push.send(Message::from("warm-up")).await.unwrap();
        pull.recv().await.unwrap();
        (push, pull)
    });
    let body = Bytes::from(vec![0x5a; SIZE]);
    let mut group = c.benchmark_group("curve_tcp_1KiB");
    group.throughput(Throughput::Bytes(SIZE as u64));
    group.bench_function("zmq-async", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let body = body.clone();
                let start = Instant::now();
                let sender = async {
                    for _ in 0..iters {
                        push.send(Message::from(body.clone())).await.unwrap();
                    }
                };
                let receiver = async {
                    for _ in 0..iters {
                        pull.recv().await.unwrap();
                    }
                };
                futures::join!(sender, receiver);
                start.elapsed()
            })
        })
    });
    group.finish();
}

fn libzmq(c: &mut Criterion) {
    let ctx = zmq::Context::new();
    let server = CurveKeyPair::generate();
    let client = CurveKeyPair::generate();
    let pull = ctx.socket(zmq::PULL).unwrap();
    pull.set_curve_server(true).unwrap();
    pull.set_curve_secretkey(server.secret.as_bytes()).unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let ep = pull.get_last_endpoint().unwrap().unwrap();
    let push = ctx.socket(zmq::PUSH).unwrap();
    push.set_curve_serverkey(&server.public).unwrap();
    push.set_curve_publickey(&client.public).unwrap();
    push.set_curve_secretkey(client.secret.as_bytes()).unwrap();
    push.set_linger(0).unwrap();
    push.connect(&ep).unwrap();
    push.send("warm-up", 0).unwrap();
    pull.recv_bytes(0).unwrap();
    let body = vec![0x5a; SIZE];
    let (to_sender, jobs) = std::sync::mpsc::channel::<u64>();
    let sender = std::thread::spawn(move || {
        while let Ok(n) = jobs.recv() {
            for _ in 0..n {
                push.send(&body[..], 0).unwrap();
            }
        }
    });
    let mut group = c.benchmark_group("curve_tcp_1KiB");
    group.throughput(Throughput::Bytes(SIZE as u64));
    group.bench_function("libzmq", |b| {
        b.iter_custom(|iters| {
            let mut msg = zmq::Message::new();
            let start = Instant::now();
            to_sender.send(iters).unwrap();
            for _ in 0..iters {
                pull.recv(&mut msg, 0).unwrap();
            }
            start.elapsed()
        })
    });
    group.finish();
    drop(to_sender);
    sender.join().unwrap();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = ours, libzmq
}
criterion_main!(benches);
