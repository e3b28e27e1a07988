//! `raw_remote_lat <connect-to> <message-size> <roundtrip-count> [--tokio [--mt]]`: the
//! ceiling for `remote_lat`. Sends `message-size` bytes and waits for their echo, over tcp
//! (`TCP_NODELAY`) or ipc, with blocking calls (or through Tokio with `--tokio`, see
//! [`TOKIO_FLAG`](zmq_benches::TOKIO_FLAG)); prints what `remote_lat` prints.

use zmq_benches::{fail, latency_report, Args, RawEndpoint, Stopwatch};

fn main() {
    let args = Args::parse(
        "raw_remote_lat <connect-to> <message-size> <roundtrip-count>",
        3,
    );
    let (size, count) = (args.number(1), args.number(2));
    let ep = RawEndpoint::parse(args.str(0)).unwrap_or_else(|| fail("endpoint: tcp or ipc"));
    let s = ep
        .connect()
        .unwrap_or_else(|e| fail(format_args!("connect: {e}")));
    let mut buf = vec![0u8; size];
    let watch = Stopwatch::start();
    if let Err(e) = s.ping_pong(&mut buf, count, false, &args) {
        fail(format_args!("ping-pong: {e}"));
    }
    print!("{}", latency_report(size, count, watch.stop()));
}
