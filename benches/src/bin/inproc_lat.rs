//! `inproc_lat <message-size> <roundtrip-count> [--mt | --one-thread]`: libzmq's
//! `perf/inproc_lat` on our sockets. REQ binds `inproc://lat_test` and times round trips
//! with a REP worker that echoes (latency = elapsed / (2 · round trips)).
//!
//! Where the two ends run: as in `inproc_thr` (default two threads, each a current-thread
//! runtime; `--one-thread`; `--mt`).

use zmq_async::{Message, RepSocket, ReqSocket};
use zmq_benches::{fail, latency_report, payload, runtime, Args, Stopwatch};

const ENDPOINT: &str = "inproc://lat_test";

fn main() {
    let args = Args::parse("inproc_lat <message-size> <roundtrip-count>", 2);
    let (size, count) = (args.number(0), args.number(1));
    let rt = runtime(args.multi_thread);
    let mut s = ReqSocket::new();
    rt.block_on(async {
        if let Err(e) = s.bind(ENDPOINT).await {
            fail(format_args!("zmq_bind: {e}"));
        }
    });
    let thread = if args.multi_thread || args.flag("one-thread") {
        rt.spawn(worker(count));
        None
    } else {
        Some(std::thread::spawn(move || {
            runtime(false).block_on(worker(count))
        }))
    };
    println!("message size: {size} [B]");
    println!("roundtrip count: {count}");
    let elapsed = rt.block_on(async {
        let mut msg = Message::from(payload(size));
        let watch = Stopwatch::start();
        for _ in 0..count {
            if let Err(e) = s.send(msg).await {
                fail(format_args!("zmq_sendmsg: {e}"));
            }
            msg = match s.recv().await {
                Ok(m) if m.size() == size => m,
                Ok(_) => fail("message of incorrect size received"),
                Err(e) => fail(format_args!("zmq_recvmsg: {e}")),
            };
        }
        watch.stop()
    });
    if let Some(t) = thread {
        if t.join().is_err() {
            fail("pthread_join");
        }
    }
    let report = latency_report(size, count, elapsed);
    for line in report.lines().skip(2) {
        println!("{line}");
    }
}

async fn worker(count: usize) {
    let mut s = RepSocket::new();
    if let Err(e) = s.connect(ENDPOINT).await {
        fail(format_args!("zmq_connect: {e}"));
    }
    for _ in 0..count {
        let msg = match s.recv().await {
            Ok(m) => m,
            Err(e) => fail(format_args!("zmq_recvmsg: {e}")),
        };
        if let Err(e) = s.send(msg).await {
            fail(format_args!("zmq_sendmsg: {e}"));
        }
    }
}
