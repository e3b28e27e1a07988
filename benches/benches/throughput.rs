//! PUSH/PULL throughput in one process: ours (current-thread and multi-thread runtime)
//! against libzmq (the `zmq` crate, sender on its own thread), over tcp, ipc and inproc, for
//! 8 B, 64 B, 1 KiB and 64 KiB messages; a raw tcp and a raw Unix-socket pair moving the
//! same bytes (no framing, blocking calls) is the ceiling. With the `peers` feature, the
//! other pure-Rust ZeroMQ crates run beside them: zeromq 0.7, omq-tokio 0.33 and rzmq 0.5.
//!
//! ```sh
//! cargo bench -p zmq-benches --bench throughput             # everything (~3 minutes)
//! cargo bench -p zmq-benches --bench throughput -- tcp/8/   # one group
//! cargo bench -p zmq-benches --features peers --bench throughput   # with the peers
//! cargo bench -p zmq-benches --features peers --bench throughput -- 'throughput/tcp/(8|64)/'
//! ```
//!
//! Each sample times the receiver taking a batch of messages that a long-lived sender
//! sends on demand; criterion reports messages per second (`elem/s`). Where the two ends run:
//! - `ours-ct`: the sender on its own thread with a current-thread runtime, the receiver on
//!   the bench thread with another (two threads, as libzmq's two application threads);
//! - `ours-mt`: both as tasks of one multi-thread runtime (two workers);
//! - `libzmq`: the sender on its own thread, the receiver on the bench thread (plus
//!   libzmq's I/O thread);
//! - `raw`: the sender on its own thread writing `size × batch` bytes in 64 KiB writes;
//! - `zeromq` (tcp, ipc: it has no inproc) and `rzmq` (tcp, ipc, inproc; its standard
//!   backend, not io_uring): as `ours-mt`, both ends as tasks of one tokio multi-thread
//!   runtime, which is what their READMEs and examples run them on (`#[tokio::main]`);
//! - `omq-tokio` (tcp, ipc, inproc): as `libzmq`, its blocking sockets (the README's way
//!   from plain threads) on a `Context` that owns one I/O thread (a current-thread tokio
//!   runtime).
//!
//! glibc's allocator is pinned for every contender alike: the bench runs itself again with
//! `MALLOC_TRIM_THRESHOLD_` set (256 MiB) unless it is set already. Left to glibc, when and
//! how much of the heap's top it gives back to the kernel depends on what the process did
//! before, and the 64 KiB rows measured that history: the same binary gave ours-ct 22.8 K
//! or 58.3 K msg/s at ipc 64 KiB (5.79 M page faults against 18,000), libzmq 38.6 K or
//! 59.5 K, omq-tokio 46.4 K or 49.3 K, unset and set (the README has the figures).

// criterion_group!/criterion_main! generate undocumented functions.
#![allow(missing_docs)]

use std::future::Future;
use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use zmq_async::{PullSocket, PushSocket};
use zmq_benches::{frame, Transport};

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
                    push.send(frame(size)).await.expect("send");
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

/// A PUSH end, as each crate spells it.
trait Push: Send + 'static {
    /// Sends one message of `size` bytes, a fresh allocation each time (as libzmq's
    /// `zmq_msg_init_size`).
    fn push(&mut self, size: usize) -> impl Future<Output = ()> + Send;
}

/// A PULL end, as each crate spells it.
trait Pull: Send + 'static {
    /// Takes one message.
    fn pull(&mut self) -> impl Future<Output = ()> + Send;
}

impl Push for PushSocket {
    async fn push(&mut self, size: usize) {
        self.send(frame(size)).await.expect("send");
    }
}

impl Pull for PullSocket {
    async fn pull(&mut self) {
        self.recv().await.expect("recv");
    }
}

/// Both ends as tasks of one multi-thread runtime, `push` connected to `pull`; the bench
/// thread waits for the receiving task.
fn multi_thread(
    rt: tokio::runtime::Runtime,
    mut push: impl Push,
    pull: impl Pull,
    size: usize,
) -> Pair {
    let (demand, mut orders) = tokio::sync::mpsc::unbounded_channel::<usize>();
    rt.spawn(async move {
        while let Some(n) = orders.recv().await {
            for _ in 0..n {
                push.push(size).await;
            }
        }
    });
    let mut pull = Some(pull);
    let mut pair = Pair {
        demand: Box::new(move |n| demand.send(n).expect("sender alive")),
        receive: Box::new(move |n| {
            let mut socket = pull.take().expect("socket");
            let task = rt.spawn(async move {
                for _ in 0..n {
                    socket.pull().await;
                }
                socket
            });
            pull = Some(rt.block_on(task).expect("receiver task"));
        }),
    };
    pair.run(1, 1);
    pair
}

/// The sender on its own thread calling `send_one` on demand, the receiver on the bench
/// thread calling `recv_one`: blocking APIs with their own I/O threads.
fn threads(
    mut send_one: impl FnMut() + Send + 'static,
    mut recv_one: impl FnMut() + 'static,
) -> Pair {
    let (demand, orders) = mpsc::channel::<usize>();
    std::thread::spawn(move || {
        while let Ok(n) = orders.recv() {
            for _ in 0..n {
                send_one();
            }
        }
    });
    let mut pair = Pair {
        demand: Box::new(move |n| demand.send(n).expect("sender alive")),
        receive: Box::new(move |n| {
            for _ in 0..n {
                recv_one();
            }
        }),
    };
    pair.run(1, 1);
    pair
}

/// Ours with both ends as tasks of one multi-thread runtime.
fn ours_mt(transport: Transport, size: usize) -> Pair {
    let rt = zmq_benches::runtime(true);
    let mut pull = PullSocket::new();
    let ep = rt
        .block_on(pull.bind(&transport.endpoint(false)))
        .expect("bind");
    let mut push = PushSocket::new();
    rt.block_on(push.connect(&ep)).expect("connect");
    multi_thread(rt, push, pull, size)
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
    let push = ctx.socket(zmq::PUSH).expect("socket");
    push.connect(&ep).expect("connect");
    let mut msg = zmq::Message::new();
    threads(
        move || push.send(zmq::Message::with_size(size), 0).expect("send"),
        move || pull.recv(&mut msg, 0).expect("recv"),
    )
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

/// Makes a connected pair for a transport and a message size.
type Make = fn(Transport, usize) -> Pair;

/// The other pure-Rust ZeroMQ crates (`--features peers`), each used as its README shows.
#[cfg(feature = "peers")]
mod peers {
    use super::{multi_thread, threads, Make, Pair, Pull, Push, Transport};
    use zmq_benches::payload;

    /// The crates that speak `transport`.
    pub(super) fn contenders(transport: Transport) -> Vec<(&'static str, Make)> {
        let mut contenders: Vec<(&str, Make)> = Vec::new();
        // zeromq 0.7 has tcp and ipc only: no inproc transport.
        if transport != Transport::Inproc {
            contenders.push(("zeromq", zeromq));
        }
        contenders.push(("omq-tokio", omq_tokio));
        contenders.push(("rzmq", rzmq));
        contenders
    }

    impl Push for zeromq::PushSocket {
        async fn push(&mut self, size: usize) {
            use zeromq::SocketSend;
            self.send(payload(size).into()).await.expect("send");
        }
    }

    impl Pull for zeromq::PullSocket {
        async fn pull(&mut self) {
            use zeromq::SocketRecv;
            self.recv().await.expect("recv");
        }
    }

    /// zeromq on a tokio multi-thread runtime (its examples run under `#[tokio::main]`), both
    /// ends as tasks of it, as `ours-mt`.
    fn zeromq(transport: Transport, size: usize) -> Pair {
        use zeromq::Socket;
        let rt = zmq_benches::runtime(true);
        let (push, pull) = rt.block_on(async {
            let mut pull = zeromq::PullSocket::new();
            let ep = pull.bind(&transport.endpoint(false)).await.expect("bind");
            let mut push = zeromq::PushSocket::new();
            push.connect(&ep.to_string()).await.expect("connect");
            (push, pull)
        });
        multi_thread(rt, push, pull, size)
    }

    /// omq-tokio's blocking sockets on a `Context` of its own, which runs one I/O thread (a
    /// current-thread tokio runtime): the sender on its own thread, as `libzmq`.
    fn omq_tokio(transport: Transport, size: usize) -> Pair {
        use omq_tokio::{Context, Message, Options, SocketType};
        let ctx = Context::new();
        let pull = ctx.blocking_socket(SocketType::Pull, Options::default());
        let ep = pull.bind(transport.endpoint(false).as_str()).expect("bind");
        let push = ctx.blocking_socket(SocketType::Push, Options::default());
        push.connect(ep).expect("connect");
        threads(
            move || push.send(Message::from(payload(size))).expect("send"),
            move || {
                pull.recv().expect("recv");
            },
        )
    }

    impl Push for rzmq::Socket {
        async fn push(&mut self, size: usize) {
            let msg = rzmq::Msg::from_bytes(payload(size));
            self.send(msg).await.expect("send");
        }
    }

    impl Pull for rzmq::Socket {
        async fn pull(&mut self) {
            self.recv().await.expect("recv");
        }
    }

    /// rzmq (standard backend, no io_uring) on a tokio multi-thread runtime (its README's
    /// `#[tokio::main]`), both ends as tasks of it, as `ours-mt`.
    fn rzmq(transport: Transport, size: usize) -> Pair {
        let rt = zmq_benches::runtime(true);
        let (push, pull) = rt.block_on(async {
            let ctx = rzmq::Context::new().expect("context");
            let pull = ctx.socket(rzmq::SocketType::Pull).expect("socket");
            pull.bind(&transport.endpoint(false)).await.expect("bind");
            let ep = pull
                .get_option(rzmq::socket::LAST_ENDPOINT)
                .await
                .expect("endpoint");
            let ep = String::from_utf8(ep).expect("utf-8 endpoint");
            let push = ctx.socket(rzmq::SocketType::Push).expect("socket");
            push.connect(&ep).await.expect("connect");
            (push, pull)
        });
        multi_thread(rt, push, pull, size)
    }
}

fn throughput(c: &mut Criterion) {
    for transport in [Transport::Tcp, Transport::Ipc, Transport::Inproc] {
        for size in SIZES {
            let n = batch(size);
            let mut group = c.benchmark_group(format!("throughput/{}/{size}", transport.name()));
            group.throughput(Throughput::Elements(n as u64));
            let mut contenders: Vec<(&str, Make)> = vec![
                ("ours-ct", ours_ct),
                ("ours-mt", ours_mt),
                ("libzmq", libzmq),
            ];
            if !matches!(transport, Transport::Inproc) {
                contenders.push(("raw", raw));
            }
            #[cfg(feature = "peers")]
            contenders.extend(peers::contenders(transport));
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
/// The heap's top kept up to this many bytes: see the module's docs.
const TRIM_THRESHOLD: &str = "268435456";
const TRIM_VAR: &str = "MALLOC_TRIM_THRESHOLD_";

fn main() {
    // glibc reads the variable when the process starts: set, it takes this process again.
    if std::env::var_os(TRIM_VAR).is_none() {
        let status = std::env::current_exe().and_then(|exe| {
            std::process::Command::new(exe)
                .args(std::env::args_os().skip(1))
                .env(TRIM_VAR, TRIM_THRESHOLD)
                .status()
        });
        match status {
            Ok(status) => std::process::exit(status.code().unwrap_or(1)),
            Err(e) => {
                eprintln!("running the bench again with {TRIM_VAR} set: {e}");
                std::process::exit(1);
            }
        }
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
