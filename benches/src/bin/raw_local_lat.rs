//! `raw_local_lat <bind-to> <message-size> <roundtrip-count> [--tokio [--mt]]`: the ceiling
//! for `local_lat`. Accepts one tcp (`TCP_NODELAY`) or ipc peer and echoes `message-size`
//! bytes at a time, with blocking reads and writes (or through Tokio with `--tokio`, see
//! [`TOKIO_FLAG`](zmq_benches::TOKIO_FLAG)); no framing.

use zmq_benches::{fail, Args, RawEndpoint};

fn main() {
    let args = Args::parse(
        "raw_local_lat <bind-to> <message-size> <roundtrip-count>",
        3,
    );
    let (size, count) = (args.number(1), args.number(2));
    let ep = RawEndpoint::parse(args.str(0)).unwrap_or_else(|| fail("endpoint: tcp or ipc"));
    let s = ep
        .accept_one()
        .unwrap_or_else(|e| fail(format_args!("accept: {e}")));
    let mut buf = vec![0u8; size];
    if let Err(e) = s.ping_pong(&mut buf, count, true, &args) {
        fail(format_args!("echo: {e}"));
    }
}
