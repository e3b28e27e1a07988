//! `remote_thr <connect-to> <message-size> <message-count> [--mt] [--hold] [--curve]`: our PUSH
//! connects and sends, as libzmq's `perf/remote_thr`; it exits once everything is written
//! (linger), or with `--hold` keeps the connection open until killed.

use zmq_async::PushSocket;
use zmq_benches::{curve_client, fail, frame, runtime, wait_for_tasks, Args, HOLD_FLAG};

fn main() {
    let args = Args::parse("remote_thr <connect-to> <message-size> <message-count>", 3);
    let (connect_to, size, count) = (args.str(0).to_owned(), args.number(1), args.number(2));
    let hold = args.flag(HOLD_FLAG);
    runtime(args.multi_thread).block_on(async move {
        let mut s = PushSocket::new();
        curve_client(&args, &mut s);
        if let Err(e) = s.connect(&connect_to).await {
            fail(format_args!("zmq_connect: {e}"));
        }
        for _ in 0..count {
            if let Err(e) = s.send(frame(size)).await {
                fail(format_args!("zmq_sendmsg: {e}"));
            }
        }
        if hold {
            std::future::pending::<()>().await;
        }
        drop(s);
        wait_for_tasks().await;
    });
}
