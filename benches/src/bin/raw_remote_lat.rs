//! `raw_remote_lat <connect-to> <message-size> <roundtrip-count>`: the ceiling for
//! `remote_lat`. Sends `message-size` bytes and waits for their echo, over tcp
//! (`TCP_NODELAY`) or ipc with blocking calls; prints what `remote_lat` prints.

use std::io::{Read, Write};

use zmq_benches::{fail, latency_report, Args, RawEndpoint, Stopwatch};

fn main() {
    let args = Args::parse(
        "raw_remote_lat <connect-to> <message-size> <roundtrip-count>",
        3,
    );
    let (size, count) = (args.number(1), args.number(2));
    let ep = RawEndpoint::parse(args.str(0)).unwrap_or_else(|| fail("endpoint: tcp or ipc"));
    let mut s = ep
        .connect()
        .unwrap_or_else(|e| fail(format_args!("connect: {e}")));
    let mut buf = vec![0u8; size];
    let watch = Stopwatch::start();
    for _ in 0..count {
        if let Err(e) = s.write_all(&buf).and_then(|()| s.read_exact(&mut buf)) {
            fail(format_args!("ping-pong: {e}"));
        }
    }
    print!("{}", latency_report(size, count, watch.stop()));
}
