//! `zmq_remote_lat <connect-to> <message-size> <roundtrip-count>`: libzmq's
//! `perf/remote_lat` (REQ connects and times round trips), through the `zmq` crate.

use zmq_benches::{fail, latency_report, Args, Stopwatch};

fn main() {
    let args = Args::parse(
        "remote_lat <connect-to> <message-size> <roundtrip-count>",
        3,
    );
    let (size, count) = (args.number(1), args.number(2));
    let ctx = zmq::Context::new();
    let s = ctx
        .socket(zmq::REQ)
        .unwrap_or_else(|e| fail(format_args!("zmq_socket: {e}")));
    if let Err(e) = s.connect(args.str(0)) {
        fail(format_args!("zmq_connect: {e}"));
    }
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
    print!("{}", latency_report(size, count, elapsed));
}
