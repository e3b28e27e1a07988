//! `raw_remote_thr <connect-to> <message-size> <message-count>`: the ceiling for
//! `remote_thr`. Connects over tcp or ipc and writes `message-size × message-count` zero
//! bytes with blocking writes of 64 KiB (or one message, if larger); no framing.

use std::io::Write;

use zmq_benches::{fail, Args, RawEndpoint};

fn main() {
    let args = Args::parse(
        "raw_remote_thr <connect-to> <message-size> <message-count>",
        3,
    );
    let (size, count) = (args.number(1), args.number(2));
    let ep = RawEndpoint::parse(args.str(0)).unwrap_or_else(|| fail("endpoint: tcp or ipc"));
    let mut s = ep
        .connect()
        .unwrap_or_else(|e| fail(format_args!("connect: {e}")));
    let chunk = vec![0u8; (64 * 1024).max(size)];
    let mut left = size * count;
    while left > 0 {
        let n = left.min(chunk.len());
        if let Err(e) = s.write_all(&chunk[..n]) {
            fail(format_args!("write: {e}"));
        }
        left -= n;
    }
}
