//! PUSH/PULL throughput in one process: ours (current-thread and multi-thread runtime)
//! against libzmq (the `zmq` crate, sender on its own thread), over tcp, ipc and inproc, for
//! 8 B, 64 B, 1 KiB and 64 KiB messages; a raw tcp and a raw Unix-socket pair moving the
//! same bytes (no framing, blocking calls) is the ceiling.
//!
//! ```sh
//! cargo bench -p zmq-benches --bench throughput             # everything (~3 minutes)
//! cargo bench -p zmq-benches --bench throughput -- tcp/8    # one group
//! ```
//!
//! Each sample times the receiver taking a batch of messages that a long-lived sender thread
//! sends on demand; criterion reports messages per second (`elem/s`). Where the two ends run:
//! - `ours-ct`: the sender on its own thread with a current-thread runtime, the receiver on
//!   the bench thread with another (two threads, as libzmq's two application threads);
//! - `ours-mt`: both as tasks of one multi-thread runtime (two workers);
//! - `libzmq`: the sender on its own thread, the receiver on the bench thread (plus
//!   libzmq's I/O thread);
//! - `raw`: the sender on its own thread writing `size × batch` bytes in 64 KiB writes.

// criterion_group!/criterion_main! generate undocumented functions.
#![allow(missing_docs)]

use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use zmq_async::{PullSocket, PushSocket};
use zmq_benches::{payload, Transport};

const SIZES: [usize; 4] = [8, 64, 1024, 65536];

fn batch(size: usize) -> usize {
    match size {
        0..=64 => 20_000,
        65..=1024 => 5_000,
        _ => 200,
    }
}

/// A receiver that can be asked to take `n` messages, with a sender that sends `n` on demand.
struct Pair {
    demand: Box<dyn Fn(usize)>,
    receive: Box<dyn FnMut(usize)>,
}

impl Pair {
    /// Times `iters` batches of `n` messages.
    fn run(&mut self, iters: u64, n: usize) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            (self.demand)(n);
            (self.receive)(n);
        }
        start.elapsed()
    }
}

fn current_thread() -> tokio::runtime::Runtime {
    zmq_benches::runtime(false)
}

/// Ours with a current-thread runtime on each of two threads.
fn ours_ct(transport: Transport, size: usize) -> Pair {
    let rt = current_thread();
    let mut pull = PullSocket::new();
    let ep = rt
        .block_on(pull.bind(&transport.endpoint(false)))
        .expect("bind");
    let (demand, mut orders) = tokio::sync::mpsc::unbounded_channel::<usize>();
    std::thread::spawn(move || {
        current_thread().block_on(async move {
            let mut push = PushSocket::new();
            push.connect(&ep).await.expect("connect");
            while let Some(n) = orders.recv().await {
                for _ in 0..n {
                    push.send(payload(size)).await.expect("send");
                }
            }
        });
    });
    let mut pair = Pair {
        demand: Box::new(move |n| demand.send(n).expect("sender alive")),
        receive: Box::new(move |n| {
            rt.block_on(async {
                for _ in 0..n {
                    pull.recv().await.expect("recv");
                }
            })
        }),
    };
    pair.run(1, 1);
    pair
}

/// Ours with both ends as tasks of one multi-thread runtime.
fn ours_mt(transport: Transport, size: usize) -> Pair {
    let rt = zmq_benches::runtime(true);
    let mut pull = Some(PullSocket::new());
    let ep = rt
        .block_on(
            pull.as_mut()
                .expect("socket")
                .bind(&transport.endpoint(false)),
        )
        .expect("bind");
    let (demand, mut orders) = tokio::sync::mpsc::unbounded_channel::<usize>();
    rt.spawn(async move {
        let mut push = PushSocket::new();
        push.connect(&ep).await.expect("connect");
        while let Some(n) = orders.recv().await {
            for _ in 0..n {
                push.send(payload(size)).await.expect("send");
            }
        }
    });
    let mut pair = Pair {
        demand: Box::new(move |n| demand.send(n).expect("sender alive")),
        receive: Box::new(move |n| {
            let mut socket = pull.take().expect("socket");
            let task = rt.spawn(async move {
                for _ in 0..n {
                    socket.recv().await.expect("recv");
                }
                socket
            });
            pull = Some(rt.block_on(task).expect("receiver task"));
        }),
    };
    pair.run(1, 1);
    pair
}

/// libzmq through the `zmq` crate.
fn libzmq(transport: Transport, size: usize) -> Pair {
    let ctx = zmq::Context::new();
    let pull = ctx.socket(zmq::PULL).expect("socket");
    pull.bind(&transport.endpoint(true)).expect("bind");
    let ep = pull
        .get_last_endpoint()
        .expect("endpoint")
        .expect("utf-8 endpoint");
    let (demand, orders) = mpsc::channel::<usize>();
    let sender_ctx = ctx.clone();
    std::thread::spawn(move || {
        let push = sender_ctx.socket(zmq::PUSH).expect("socket");
        push.connect(&ep).expect("connect");
        while let Ok(n) = orders.recv() {
            for _ in 0..n {
                push.send(zmq::Message::with_size(size), 0).expect("send");
            }
        }
    });
    let mut msg = zmq::Message::new();
    let mut pair = Pair {
        demand: Box::new(move |n| demand.send(n).expect("sender alive")),
        receive: Box::new(move |n| {
            for _ in 0..n {
                pull.recv(&mut msg, 0).expect("recv");
            }
        }),
    };
    pair.run(1, 1);
    pair
}

/// The same bytes over a bare socket, no framing: the ceiling.
fn raw(transport: Transport, size: usize) -> Pair {
    let (mut reader, writer): (Box<dyn Read>, Box<dyn Write + Send>) = match transport {
        Transport::Tcp => {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let w = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
            let (r, _) = l.accept().expect("accept");
            (Box::new(r), Box::new(w))
        }
        _ => {
            let (r, w) = std::os::unix::net::UnixStream::pair().expect("socketpair");
            (Box::new(r), Box::new(w))
        }
    };
    let (demand, orders) = mpsc::channel::<usize>();
    std::thread::spawn(move || {
        let mut writer = writer;
        let chunk = vec![0u8; 64 * 1024];
        while let Ok(n) = orders.recv() {
            let mut left = n * size;
            while left > 0 {
                let k = left.min(chunk.len());
                writer.write_all(&chunk[..k]).expect("write");
                left -= k;
            }
        }
    });
    let mut buf = vec![0u8; 64 * 1024];
    let mut pair = Pair {
        demand: Box::new(move |n| demand.send(n).expect("sender alive")),
        receive: Box::new(move |n| {
            let mut left = n * size;
            while left > 0 {
                let k = reader.read(&mut buf[..left.min(64 * 1024)]).expect("read");
                assert!(k > 0, "writer closed");
                left -= k;
            }
        }),
    };
    pair.run(1, 1);
    pair
}

fn throughput(c: &mut Criterion) {
    for transport in [Transport::Tcp, Transport::Ipc, Transport::Inproc] {
        for size in SIZES {
            let n = batch(size);
            let mut group = c.benchmark_group(format!("throughput/{}/{size}", transport.name()));
            group.throughput(Throughput::Elements(n as u64));
            type Make = fn(Transport, usize) -> Pair;
            let mut contenders: Vec<(&str, Make)> = vec![
                ("ours-ct", ours_ct),
                ("ours-mt", ours_mt),
                ("libzmq", libzmq),
            ];
            if !matches!(transport, Transport::Inproc) {
                contenders.push(("raw", raw));
            }
            for (name, make) in contenders {
                let mut pair = make(transport, size);
                group.bench_function(BenchmarkId::from_parameter(name), |b| {
                    b.iter_custom(|iters| pair.run(iters, n))
                });
            }
            group.finish();
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = throughput
}
criterion_main!(benches);
