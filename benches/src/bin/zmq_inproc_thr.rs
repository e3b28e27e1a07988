//! `zmq_inproc_thr <message-size> <message-count>`: libzmq's `perf/inproc_thr` (PULL binds
//! `inproc://thr_test`, a PUSH on a worker thread sends), through the `zmq` crate.

use zmq_benches::{fail, throughput_report, Args, Stopwatch};

fn main() {
    let args = Args::parse("inproc_thr <message-size> <message-count>", 2);
    let (size, count) = (args.number(0), args.number(1));
    let ctx = zmq::Context::new();
    let s = ctx
        .socket(zmq::PULL)
        .unwrap_or_else(|e| fail(format_args!("zmq_socket: {e}")));
    if let Err(e) = s.bind("inproc://thr_test") {
        fail(format_args!("zmq_bind: {e}"));
    }
    let worker_ctx = ctx.clone();
    let worker = std::thread::spawn(move || {
        let s = worker_ctx
            .socket(zmq::PUSH)
            .unwrap_or_else(|e| fail(format_args!("zmq_socket: {e}")));
        if let Err(e) = s.connect("inproc://thr_test") {
            fail(format_args!("zmq_connect: {e}"));
        }
        for _ in 0..count {
            if let Err(e) = s.send(zmq::Message::with_size(size), 0) {
                fail(format_args!("zmq_sendmsg: {e}"));
            }
        }
    });
    println!("message size: {size} [B]");
    println!("message count: {count}");
    let mut msg = zmq::Message::new();
    let recv = |msg: &mut zmq::Message| {
        if let Err(e) = s.recv(msg, 0) {
            fail(format_args!("zmq_recvmsg: {e}"));
        }
        if msg.len() != size {
            fail("message of incorrect size received");
        }
    };
    recv(&mut msg);
    let watch = Stopwatch::start();
    for _ in 1..count {
        recv(&mut msg);
    }
    let elapsed = watch.stop();
    if worker.join().is_err() {
        fail("pthread_join");
    }
    for line in throughput_report(size, count, elapsed).lines().skip(2) {
        println!("{line}");
    }
}
