//! `inproc_thr <message-size> <message-count> [--mt | --one-thread]`: libzmq's
//! `perf/inproc_thr` on our sockets. PULL binds `inproc://thr_test`; a PUSH sends from a
//! worker.
//!
//! Where the two ends run: by default as libzmq's, on two threads (the worker on its own
//! thread), each a current-thread runtime; `--one-thread`: both as tasks of one
//! current-thread runtime; `--mt`: both as tasks of one multi-thread runtime.

use zmq_async::{Message, PullSocket, PushSocket};
use zmq_benches::{fail, frame, runtime, throughput_report, Args, Stopwatch};

const ENDPOINT: &str = "inproc://thr_test";

fn main() {
    let args = Args::parse("inproc_thr <message-size> <message-count>", 2);
    let (size, count) = (args.number(0), args.number(1));
    let rt = runtime(args.multi_thread);
    let mut s = PullSocket::new();
    rt.block_on(async {
        if let Err(e) = s.bind(ENDPOINT).await {
            fail(format_args!("zmq_bind: {e}"));
        }
    });
    let thread = if args.multi_thread || args.flag("one-thread") {
        rt.spawn(worker(size, count));
        None
    } else {
        Some(std::thread::spawn(move || {
            runtime(false).block_on(worker(size, count))
        }))
    };
    println!("message size: {size} [B]");
    println!("message count: {count}");
    let elapsed = rt.block_on(async {
        check(s.recv().await, size);
        let watch = Stopwatch::start();
        for _ in 1..count {
            check(s.recv().await, size);
        }
        watch.stop()
    });
    if let Some(t) = thread {
        if t.join().is_err() {
            fail("pthread_join");
        }
    }
    let report = throughput_report(size, count, elapsed);
    // The size and count lines were printed before the run, as libzmq's tool does.
    for line in report.lines().skip(2) {
        println!("{line}");
    }
}

async fn worker(size: usize, count: usize) {
    let mut s = PushSocket::new();
    if let Err(e) = s.connect(ENDPOINT).await {
        fail(format_args!("zmq_connect: {e}"));
    }
    for _ in 0..count {
        if let Err(e) = s.send(frame(size)).await {
            fail(format_args!("zmq_sendmsg: {e}"));
        }
    }
}

fn check(msg: zmq_async::Result<Message>, size: usize) {
    match msg {
        Ok(m) if m.size() == size => {}
        Ok(_) => fail("message of incorrect size received"),
        Err(e) => fail(format_args!("zmq_recvmsg: {e}")),
    }
}
