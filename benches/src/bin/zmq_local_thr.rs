//! `zmq_local_thr <bind-to> <message-size> <message-count> [--curve]`: libzmq's `perf/local_thr`
//! (PULL binds), through the `zmq` crate.

use zmq_benches::{fail, throughput_report, zmq_curve_server, Args, Stopwatch};

fn main() {
    let args = Args::parse("local_thr <bind-to> <message-size> <message-count>", 3);
    let (size, count) = (args.number(1), args.number(2));
    let ctx = zmq::Context::new();
    let s = ctx
        .socket(zmq::PULL)
        .unwrap_or_else(|e| fail(format_args!("zmq_socket: {e}")));
    zmq_curve_server(&args, &s);
    if let Err(e) = s.bind(args.str(0)) {
        fail(format_args!("zmq_bind: {e}"));
    }
    let mut msg = zmq::Message::new();
    recv(&s, &mut msg, size);
    let watch = Stopwatch::start();
    for _ in 1..count {
        recv(&s, &mut msg, size);
    }
    let elapsed = watch.stop();
    print!("{}", throughput_report(size, count, elapsed));
}

fn recv(s: &zmq::Socket, msg: &mut zmq::Message, size: usize) {
    if let Err(e) = s.recv(msg, 0) {
        fail(format_args!("zmq_recvmsg: {e}"));
    }
    if msg.len() != size {
        fail("message of incorrect size received");
    }
}
