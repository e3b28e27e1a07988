//! `remote_lat <connect-to> <message-size> <roundtrip-count> [--mt]`: our REQ connects and
//! times round trips, as libzmq's `perf/remote_lat` (latency = elapsed / (2 · round trips)).

use zmq_async::{Message, ReqSocket};
use zmq_benches::{fail, latency_report, payload, runtime, wait_for_tasks, Args, Stopwatch};

fn main() {
    let args = Args::parse(
        "remote_lat <connect-to> <message-size> <roundtrip-count>",
        3,
    );
    let (connect_to, size, count) = (args.str(0).to_owned(), args.number(1), args.number(2));
    let report = runtime(args.multi_thread).block_on(async move {
        let mut s = ReqSocket::new();
        if let Err(e) = s.connect(&connect_to).await {
            fail(format_args!("zmq_connect: {e}"));
        }
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
        let elapsed = watch.stop();
        drop(s);
        wait_for_tasks().await;
        latency_report(size, count, elapsed)
    });
    print!("{report}");
}
