//! `zmq_local_lat <bind-to> <message-size> <roundtrip-count>`: libzmq's `perf/local_lat`
//! (REP binds and echoes), through the `zmq` crate.

use std::time::Duration;

use zmq_benches::{fail, Args};

fn main() {
    let args = Args::parse("local_lat <bind-to> <message-size> <roundtrip-count>", 3);
    let (size, count) = (args.number(1), args.number(2));
    let ctx = zmq::Context::new();
    let s = ctx
        .socket(zmq::REP)
        .unwrap_or_else(|e| fail(format_args!("zmq_socket: {e}")));
    if let Err(e) = s.bind(args.str(0)) {
        fail(format_args!("zmq_bind: {e}"));
    }
    let mut msg = zmq::Message::new();
    for _ in 0..count {
        if let Err(e) = s.recv(&mut msg, 0) {
            fail(format_args!("zmq_recvmsg: {e}"));
        }
        if msg.len() != size {
            fail("message of incorrect size received");
        }
        let reply = std::mem::replace(&mut msg, zmq::Message::new());
        if let Err(e) = s.send(reply, 0) {
            fail(format_args!("zmq_sendmsg: {e}"));
        }
    }
    std::thread::sleep(Duration::from_secs(1));
}
