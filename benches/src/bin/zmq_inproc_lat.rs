//! `zmq_inproc_lat <message-size> <roundtrip-count>`: libzmq's `perf/inproc_lat` (REQ binds
//! `inproc://lat_test`, a REP on a worker thread echoes), through the `zmq` crate.

use zmq_benches::{fail, latency_report, Args, Stopwatch};

fn main() {
    let args = Args::parse("inproc_lat <message-size> <roundtrip-count>", 2);
    let (size, count) = (args.number(0), args.number(1));
    let ctx = zmq::Context::new();
    let s = ctx
        .socket(zmq::REQ)
        .unwrap_or_else(|e| fail(format_args!("zmq_socket: {e}")));
    if let Err(e) = s.bind("inproc://lat_test") {
        fail(format_args!("zmq_bind: {e}"));
    }
    let worker_ctx = ctx.clone();
    let worker = std::thread::spawn(move || {
        let s = worker_ctx
            .socket(zmq::REP)
            .unwrap_or_else(|e| fail(format_args!("zmq_socket: {e}")));
        if let Err(e) = s.connect("inproc://lat_test") {
            fail(format_args!("zmq_connect: {e}"));
        }
        let mut msg = zmq::Message::new();
        for _ in 0..count {
            if let Err(e) = s.recv(&mut msg, 0) {
                fail(format_args!("zmq_recvmsg: {e}"));
            }
            let reply = std::mem::replace(&mut msg, zmq::Message::new());
            if let Err(e) = s.send(reply, 0) {
                fail(format_args!("zmq_sendmsg: {e}"));
            }
        }
    });
    println!("message size: {size} [B]");
    println!("roundtrip count: {count}");
    let mut msg = zmq::Message::with_size(size);
    let watch = Stopwatch::start();
    for _ in 0..count {
        let request = std::mem::replace(&mut msg, zmq::Message::new());
        if let Err(e) = s.send(request, 0) {
            fail(format_args!("zmq_sendmsg: {e}"));
        }
        if let Err(e) = s.recv(&mut msg, 0) {
            fail(format_args!("zmq_recvmsg: {e}"));
        }
        if msg.len() != size {
            fail("message of incorrect size received");
        }
    }
    let elapsed = watch.stop();
    if worker.join().is_err() {
        fail("pthread_join");
    }
    for line in latency_report(size, count, elapsed).lines().skip(2) {
        println!("{line}");
    }
}
