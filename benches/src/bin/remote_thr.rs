//! `remote_thr <connect-to> <message-size> <message-count> [--mt] [--hold] [--curve]
//! [--shared]`: our PUSH connects and sends, as libzmq's `perf/remote_thr`; it exits once
//! everything is written (linger), or with `--hold` keeps the connection open until killed.
//! Each message is built afresh ([`frame`]), or with `--shared` is one body shared by all
//! (a clone of one `Bytes`: the socket's own cost, without building the messages).

use zmq_async::{Frame, PushSocket};
use zmq_benches::{curve_client, fail, frame, runtime, wait_for_tasks, Args, HOLD_FLAG};

fn main() {
    let args = Args::parse("remote_thr <connect-to> <message-size> <message-count>", 3);
    let (connect_to, size, count) = (args.str(0).to_owned(), args.number(1), args.number(2));
    let hold = args.flag(HOLD_FLAG);
    let shared = args
        .flag("shared")
        .then(|| bytes::Bytes::from(vec![0u8; size]));
    runtime(args.multi_thread).block_on(async move {
        let mut s = PushSocket::new();
        curve_client(&args, &mut s);
        if let Err(e) = s.connect(&connect_to).await {
            fail(format_args!("zmq_connect: {e}"));
        }
        for _ in 0..count {
            let msg = match &shared {
                Some(body) => Frame::from(body.clone()),
                None => frame(size),
            };
            if let Err(e) = s.send(msg).await {
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
