//! REQ/REP round trip of 64 B over tcp and ipc in one process: ours (current-thread and
//! multi-thread runtime) against libzmq (the `zmq` crate) and a raw ping-pong (tcp with
//! `TCP_NODELAY`, or a Unix socket pair; blocking calls) as the floor. With the `peers`
//! feature, the other pure-Rust ZeroMQ crates run beside them: zeromq 0.7, omq-tokio 0.33
//! and rzmq 0.5.
//!
//! ```sh
//! cargo bench -p zmq-benches --bench latency
//! cargo bench -p zmq-benches --bench latency -- latency/tcp/    # one group
//! cargo bench -p zmq-benches --features peers --bench latency   # with the peers
//! ```
//!
//! The REP (or echo) end runs on its own thread, the REQ on the bench thread; criterion's
//! time per iteration is one round trip (libzmq's `remote_lat` prints half of that).
//! `ours-ct`: each end has a current-thread runtime; `ours-mt`: both are tasks of one
//! multi-thread runtime. `zeromq` and `rzmq` (its standard backend, not io_uring) run as
//! `ours-mt`, on the tokio multi-thread runtime their READMEs and examples use
//! (`#[tokio::main]`); `omq-tokio` runs as `libzmq`, its blocking sockets (the README's
//! way from plain threads) on a `Context` that owns one I/O thread. Each REQ sends back the
//! reply it got: the bench makes no fresh request per round trip.

// criterion_group!/criterion_main! generate undocumented functions.
#![allow(missing_docs)]

use std::future::Future;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use zmq_async::{Message, RepSocket, ReqSocket};
use zmq_benches::{payload, Transport};

const SIZE: usize = 64;

/// Times `iters` round trips.
type Timer = Box<dyn FnMut(u64) -> Duration>;

/// A REQ end, as each crate spells it.
trait Req: Send + 'static {
    /// The crate's message.
    type Msg: Send + 'static;
    /// Sends `msg` and returns the reply, to be sent again.
    fn round_trip(&mut self, msg: Self::Msg) -> impl Future<Output = Self::Msg> + Send;
}

impl Req for ReqSocket {
    type Msg = Message;
    async fn round_trip(&mut self, msg: Message) -> Message {
        self.send(msg).await.expect("send");
        self.recv().await.expect("recv")
    }
}

/// The REQ as a task of the multi-thread runtime `rt` (where its REP already runs); the
/// bench thread waits for that task.
fn multi_thread<R: Req>(rt: tokio::runtime::Runtime, req: R, first: R::Msg) -> Timer {
    let mut state = Some((req, first));
    Box::new(move |iters| {
        let (mut socket, mut msg) = state.take().expect("socket");
        let task = rt.spawn(async move {
            let start = Instant::now();
            for _ in 0..iters {
                msg = socket.round_trip(msg).await;
            }
            (start.elapsed(), socket, msg)
        });
        let (elapsed, socket, msg) = rt.block_on(task).expect("requester task");
        state = Some((socket, msg));
        elapsed
    })
}

/// The REP (or echo) end running `serve` on its own thread, the REQ on the bench thread
/// doing one `round_trip` at a time: blocking APIs.
fn threads(serve: impl FnOnce() + Send + 'static, mut round_trip: impl FnMut() + 'static) -> Timer {
    std::thread::spawn(serve);
    Box::new(move |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            round_trip();
        }
        start.elapsed()
    })
}

async fn echo(mut rep: RepSocket) {
    while let Ok(msg) = rep.recv().await {
        if rep.send(msg).await.is_err() {
            break;
        }
    }
}

fn ours_ct(transport: Transport) -> Timer {
    let rt = zmq_benches::runtime(false);
    let mut rep = RepSocket::new();
    let ep = rt
        .block_on(rep.bind(&transport.endpoint(false)))
        .expect("bind");
    std::thread::spawn(move || zmq_benches::runtime(false).block_on(echo(rep)));
    let mut req = ReqSocket::new();
    rt.block_on(req.connect(&ep)).expect("connect");
    let mut msg = Some(Message::from(payload(SIZE)));
    Box::new(move |iters| {
        rt.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                req.send(msg.take().expect("message")).await.expect("send");
                msg = Some(req.recv().await.expect("recv"));
            }
            start.elapsed()
        })
    })
}

fn ours_mt(transport: Transport) -> Timer {
    let rt = zmq_benches::runtime(true);
    let mut rep = RepSocket::new();
    let ep = rt
        .block_on(rep.bind(&transport.endpoint(false)))
        .expect("bind");
    rt.spawn(echo(rep));
    let mut req = ReqSocket::new();
    rt.block_on(req.connect(&ep)).expect("connect");
    multi_thread(rt, req, Message::from(payload(SIZE)))
}

fn libzmq(transport: Transport) -> Timer {
    let ctx = zmq::Context::new();
    let rep = ctx.socket(zmq::REP).expect("socket");
    rep.bind(&transport.endpoint(true)).expect("bind");
    let ep = rep
        .get_last_endpoint()
        .expect("endpoint")
        .expect("utf-8 endpoint");
    let req = ctx.socket(zmq::REQ).expect("socket");
    req.connect(&ep).expect("connect");
    let mut msg = zmq::Message::with_size(SIZE);
    threads(
        move || {
            let mut msg = zmq::Message::new();
            while rep.recv(&mut msg, 0).is_ok() {
                let reply = std::mem::replace(&mut msg, zmq::Message::new());
                if rep.send(reply, 0).is_err() {
                    break;
                }
            }
        },
        move || {
            let request = std::mem::replace(&mut msg, zmq::Message::new());
            req.send(request, 0).expect("send");
            req.recv(&mut msg, 0).expect("recv");
        },
    )
}

/// The same bytes over a bare socket: tcp (`TCP_NODELAY`) or a Unix socket pair.
fn raw(transport: Transport) -> Timer {
    match transport {
        Transport::Tcp => {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let client =
                std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
            let (server, _) = l.accept().expect("accept");
            client.set_nodelay(true).expect("nodelay");
            server.set_nodelay(true).expect("nodelay");
            ping_pong(client, server)
        }
        _ => {
            let (client, server) = std::os::unix::net::UnixStream::pair().expect("socketpair");
            ping_pong(client, server)
        }
    }
}

fn ping_pong<S: Read + Write + Send + 'static>(mut client: S, mut server: S) -> Timer {
    let mut buf = [0u8; SIZE];
    threads(
        move || {
            let mut buf = [0u8; SIZE];
            while server.read_exact(&mut buf).is_ok() {
                if server.write_all(&buf).is_err() {
                    break;
                }
            }
        },
        move || {
            client.write_all(&buf).expect("write");
            client.read_exact(&mut buf).expect("read");
        },
    )
}

/// Makes a connected REQ/REP pair for a transport.
type Make = fn(Transport) -> Timer;

/// The other pure-Rust ZeroMQ crates (`--features peers`), each used as its README shows.
#[cfg(feature = "peers")]
mod peers {
    use super::{multi_thread, payload, threads, Make, Req, Timer, Transport, SIZE};

    /// All three speak tcp and ipc.
    pub(super) const CONTENDERS: [(&str, Make); 3] =
        [("zeromq", zeromq), ("omq-tokio", omq_tokio), ("rzmq", rzmq)];

    impl Req for zeromq::ReqSocket {
        type Msg = zeromq::ZmqMessage;
        async fn round_trip(&mut self, msg: Self::Msg) -> Self::Msg {
            use zeromq::{SocketRecv, SocketSend};
            self.send(msg).await.expect("send");
            self.recv().await.expect("recv")
        }
    }

    /// zeromq on a tokio multi-thread runtime (its examples run under `#[tokio::main]`), both
    /// ends as tasks of it, as `ours-mt`.
    fn zeromq(transport: Transport) -> Timer {
        use zeromq::{Socket, SocketRecv, SocketSend};
        let rt = zmq_benches::runtime(true);
        let req = rt.block_on(async {
            let mut rep = zeromq::RepSocket::new();
            let ep = rep.bind(&transport.endpoint(false)).await.expect("bind");
            tokio::spawn(async move {
                while let Ok(msg) = rep.recv().await {
                    if rep.send(msg).await.is_err() {
                        break;
                    }
                }
            });
            let mut req = zeromq::ReqSocket::new();
            req.connect(&ep.to_string()).await.expect("connect");
            req
        });
        multi_thread(rt, req, payload(SIZE).into())
    }

    /// omq-tokio's blocking sockets on a `Context` of its own, which runs one I/O thread (a
    /// current-thread tokio runtime): the REP on its own thread, as `libzmq`.
    fn omq_tokio(transport: Transport) -> Timer {
        use omq_tokio::{Context, Message, Options, SocketType};
        let ctx = Context::new();
        let rep = ctx.blocking_socket(SocketType::Rep, Options::default());
        let ep = rep.bind(transport.endpoint(false).as_str()).expect("bind");
        let req = ctx.blocking_socket(SocketType::Req, Options::default());
        req.connect(ep).expect("connect");
        let mut msg = Some(Message::from(payload(SIZE)));
        threads(
            move || {
                while let Ok(msg) = rep.recv() {
                    if rep.send(msg).is_err() {
                        break;
                    }
                }
            },
            move || {
                req.send(msg.take().expect("message")).expect("send");
                msg = Some(req.recv().expect("recv"));
            },
        )
    }

    impl Req for rzmq::Socket {
        type Msg = rzmq::Msg;
        async fn round_trip(&mut self, msg: Self::Msg) -> Self::Msg {
            self.send(msg).await.expect("send");
            self.recv().await.expect("recv")
        }
    }

    /// rzmq (standard backend, no io_uring) on a tokio multi-thread runtime (its README's
    /// `#[tokio::main]`), both ends as tasks of it, as `ours-mt`.
    fn rzmq(transport: Transport) -> Timer {
        let rt = zmq_benches::runtime(true);
        let req = rt.block_on(async {
            let ctx = rzmq::Context::new().expect("context");
            let rep = ctx.socket(rzmq::SocketType::Rep).expect("socket");
            rep.bind(&transport.endpoint(false)).await.expect("bind");
            let ep = rep
                .get_option(rzmq::socket::LAST_ENDPOINT)
                .await
                .expect("endpoint");
            let ep = String::from_utf8(ep).expect("utf-8 endpoint");
            tokio::spawn(async move {
                while let Ok(msg) = rep.recv().await {
                    if rep.send(msg).await.is_err() {
                        break;
                    }
                }
            });
            let req = ctx.socket(rzmq::SocketType::Req).expect("socket");
            req.connect(&ep).await.expect("connect");
            req
        });
        multi_thread(rt, req, rzmq::Msg::from_bytes(payload(SIZE)))
    }
}

fn latency(c: &mut Criterion) {
    for transport in [Transport::Tcp, Transport::Ipc] {
        let mut group = c.benchmark_group(format!("latency/{}/{SIZE}", transport.name()));
        #[allow(unused_mut)] // without the peers feature
        let mut contenders: Vec<(&str, Make)> = vec![
            ("ours-ct", ours_ct),
            ("ours-mt", ours_mt),
            ("libzmq", libzmq),
            ("raw", raw),
        ];
        #[cfg(feature = "peers")]
        contenders.extend(peers::CONTENDERS);
        for (name, make) in contenders {
            let mut timer = make(transport);
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_custom(&mut timer)
            });
        }
        group.finish();
    }
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
