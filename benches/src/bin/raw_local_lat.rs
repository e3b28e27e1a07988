//! `raw_local_lat <bind-to> <message-size> <roundtrip-count>`: the ceiling for `local_lat`.
//! Accepts one tcp (`TCP_NODELAY`) or ipc peer and echoes `message-size` bytes at a time
//! with blocking reads and writes; no framing.

use std::io::{Read, Write};

use zmq_benches::{fail, Args, RawEndpoint};

fn main() {
    let args = Args::parse(
        "raw_local_lat <bind-to> <message-size> <roundtrip-count>",
        3,
    );
    let (size, count) = (args.number(1), args.number(2));
    let ep = RawEndpoint::parse(args.str(0)).unwrap_or_else(|| fail("endpoint: tcp or ipc"));
    let mut s = ep
        .accept_one()
        .unwrap_or_else(|e| fail(format_args!("accept: {e}")));
    let mut buf = vec![0u8; size];
    for _ in 0..count {
        if let Err(e) = s.read_exact(&mut buf).and_then(|()| s.write_all(&buf)) {
            fail(format_args!("echo: {e}"));
        }
    }
}
