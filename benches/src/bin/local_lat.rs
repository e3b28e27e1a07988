//! `local_lat <bind-to> <message-size> <roundtrip-count> [--mt]`: our REP binds and echoes,
//! as libzmq's `perf/local_lat` (which also sleeps a second before closing).

use std::time::Duration;

use zmq_async::RepSocket;
use zmq_benches::{fail, runtime, wait_for_tasks, Args};

fn main() {
    let args = Args::parse("local_lat <bind-to> <message-size> <roundtrip-count>", 3);
    let (bind_to, size, count) = (args.str(0).to_owned(), args.number(1), args.number(2));
    runtime(args.multi_thread).block_on(async move {
        let mut s = RepSocket::new();
        if let Err(e) = s.bind(&bind_to).await {
            fail(format_args!("zmq_bind: {e}"));
        }
        for _ in 0..count {
            let msg = match s.recv().await {
                Ok(m) if m.size() == size => m,
                Ok(_) => fail("message of incorrect size received"),
                Err(e) => fail(format_args!("zmq_recvmsg: {e}")),
            };
            if let Err(e) = s.send(msg).await {
                fail(format_args!("zmq_sendmsg: {e}"));
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(s);
        wait_for_tasks().await;
    });
}
