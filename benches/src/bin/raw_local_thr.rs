//! `raw_local_thr <bind-to> <message-size> <message-count>`: the ceiling for `local_thr`.
//! Accepts one tcp or ipc peer and reads `message-size × message-count` bytes with blocking
//! reads into a 64 KiB buffer; no framing. Prints what `local_thr` prints, timed as it is
//! (the clock starts once the first message's bytes are in).

use std::io::Read;

use zmq_benches::{fail, throughput_report, Args, RawEndpoint, Stopwatch};

fn main() {
    let args = Args::parse("raw_local_thr <bind-to> <message-size> <message-count>", 3);
    let (size, count) = (args.number(1), args.number(2));
    let ep = RawEndpoint::parse(args.str(0)).unwrap_or_else(|| fail("endpoint: tcp or ipc"));
    let mut s = ep
        .accept_one()
        .unwrap_or_else(|e| fail(format_args!("accept: {e}")));
    let mut buf = vec![0u8; (64 * 1024).max(size)];
    let total = size * count;
    let mut got = 0usize;
    let mut watch = None;
    while got < total {
        let n = match s.read(&mut buf[..(total - got).clamp(1, 64 * 1024)]) {
            Ok(0) => fail("read: peer closed early"),
            Ok(n) => n,
            Err(e) => fail(format_args!("read: {e}")),
        };
        got += n;
        if watch.is_none() && got >= size {
            watch = Some(Stopwatch::start());
        }
    }
    let elapsed = watch.map(Stopwatch::stop).unwrap_or_default();
    print!("{}", throughput_report(size, count, elapsed));
}
