//! `local_thr <bind-to> <message-size> <message-count> [--mt] [--curve]`: our PULL binds and
//! measures throughput, as libzmq's `perf/local_thr` (the clock starts at the first message).

use zmq_async::{Message, PullSocket};
use zmq_benches::{curve_server, fail, runtime, throughput_report, Args, Stopwatch};

fn main() {
    let args = Args::parse("local_thr <bind-to> <message-size> <message-count>", 3);
    let (bind_to, size, count) = (args.str(0).to_owned(), args.number(1), args.number(2));
    let report = runtime(args.multi_thread).block_on(async move {
        let mut s = PullSocket::new();
        curve_server(&args, &mut s);
        if let Err(e) = s.bind(&bind_to).await {
            fail(format_args!("zmq_bind: {e}"));
        }
        check(s.recv().await, size);
        let watch = Stopwatch::start();
        for _ in 1..count {
            check(s.recv().await, size);
        }
        throughput_report(size, count, watch.stop())
    });
    print!("{report}");
}

fn check(msg: zmq_async::Result<Message>, size: usize) {
    match msg {
        Ok(m) if m.size() == size => {}
        Ok(_) => fail("message of incorrect size received"),
        Err(e) => fail(format_args!("zmq_recvmsg: {e}")),
    }
}
