//! `zmq_remote_thr <connect-to> <message-size> <message-count> [--hold] [--curve]`: libzmq's
//! `perf/remote_thr` (PUSH connects), through the `zmq` crate.

use zmq_benches::{fail, hold_if_asked, zmq_curve_client, Args};

fn main() {
    let args = Args::parse("remote_thr <connect-to> <message-size> <message-count>", 3);
    let (size, count) = (args.number(1), args.number(2));
    let ctx = zmq::Context::new();
    let s = ctx
        .socket(zmq::PUSH)
        .unwrap_or_else(|e| fail(format_args!("zmq_socket: {e}")));
    zmq_curve_client(&args, &s);
    if let Err(e) = s.connect(args.str(0)) {
        fail(format_args!("zmq_connect: {e}"));
    }
    for _ in 0..count {
        if let Err(e) = s.send(zmq::Message::with_size(size), 0) {
            fail(format_args!("zmq_sendmsg: {e}"));
        }
    }
    hold_if_asked(&args);
    // Closing the socket, then terminating the context, waits for delivery (linger -1).
    drop(s);
    drop(ctx);
}
