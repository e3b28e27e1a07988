//! Encode and decode throughput of single-frame messages through a real [`Connection`].
//!
//! - encode: `send` a batch of messages, then drain `poll_transmit`;
//! - decode: copy a prepared buffer holding the batch's wire bytes into `read_buf()` (in
//!   reads of at most [`READ_SIZE`] bytes, as a socket read would), `handle_read`, and
//!   drain `poll_event` after each read;
//! - decode-batch: the same, draining with `poll_messages` into a queue of up to [`BATCH`]
//!   messages, as the socket driver does.
//!
//! Reported twice: in messages per second (`codec-msgs`) and bytes per second
//! (`codec-bytes`). Run pinned to one core: `taskset -c 1 cargo bench -p zmq-benches --bench codec`.

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use zmq_benches::{connected_pair, encoded_batch};
use zmtp_codec::{Connection, Event, Message};

/// Body sizes measured.
const SIZES: [(usize, &str); 4] = [(8, "8B"), (64, "64B"), (1024, "1KiB"), (65536, "64KiB")];

/// The most bytes one simulated socket read delivers.
const READ_SIZE: usize = 64 * 1024;

/// The most messages `decode-batch` takes per `poll_messages` (as the socket driver).
const BATCH: usize = 256;

/// Messages per iteration: enough that per-iteration overhead vanishes, few enough that
/// a 64 KiB batch stays within a few MiB.
fn batch(size: usize) -> usize {
    if size >= 16 * 1024 {
        64
    } else {
        1000
    }
}

fn encode(sender: &mut Connection, msg: &Message, count: usize) -> usize {
    for _ in 0..count {
        sender.send(msg).expect("active connection");
    }
    let mut bytes = 0;
    while let Some(chunk) = sender.poll_transmit() {
        bytes += chunk.len();
        black_box(chunk);
    }
    bytes
}

fn decode(receiver: &mut Connection, wire: &[u8], now: Instant) -> usize {
    let mut msgs = 0;
    for read in wire.chunks(READ_SIZE) {
        receiver.read_buf().extend_from_slice(read);
        receiver.handle_read(now).expect("clean stream");
        while let Some(ev) = receiver.poll_event().expect("clean stream") {
            if let Event::Message(m) = ev {
                msgs += 1;
                black_box(m);
            }
        }
    }
    msgs
}

fn decode_batch(receiver: &mut Connection, wire: &[u8], now: Instant) -> usize {
    let mut msgs = 0;
    let mut queue = VecDeque::with_capacity(BATCH);
    for read in wire.chunks(READ_SIZE) {
        receiver.read_buf().extend_from_slice(read);
        receiver.handle_read(now).expect("clean stream");
        while receiver
            .poll_messages(&mut queue, BATCH)
            .expect("clean stream")
            > 0
        {
            msgs += queue.len();
            for m in queue.drain(..) {
                black_box(m);
            }
        }
    }
    msgs
}

fn bench(c: &mut Criterion, group_name: &str, bytes: bool) {
    let mut group = c.benchmark_group(group_name);
    group.measurement_time(Duration::from_secs(4));
    for (size, label) in SIZES {
        let n = batch(size);
        group.throughput(if bytes {
            Throughput::Bytes((n * size) as u64)
        } else {
            Throughput::Elements(n as u64)
        });
        let now = Instant::now();
        let body = Bytes::from(vec![0xA5u8; size]);
        let msg = Message::from(body.clone());

        let (mut sender, _) = connected_pair(now);
        group.bench_function(BenchmarkId::new("encode", label), |b| {
            b.iter(|| encode(&mut sender, &msg, n));
        });

        let (mut sender, mut receiver) = connected_pair(now);
        let wire = encoded_batch(&mut sender, &body, n);
        assert_eq!(decode(&mut receiver, &wire, now), n);
        group.bench_function(BenchmarkId::new("decode", label), |b| {
            b.iter(|| {
                let got = decode(&mut receiver, &wire, now);
                debug_assert_eq!(got, n);
                got
            });
        });
        assert_eq!(decode_batch(&mut receiver, &wire, now), n);
        group.bench_function(BenchmarkId::new("decode-batch", label), |b| {
            b.iter(|| {
                let got = decode_batch(&mut receiver, &wire, now);
                debug_assert_eq!(got, n);
                got
            });
        });
    }
    group.finish();
}

fn msgs(c: &mut Criterion) {
    bench(c, "codec-msgs", false);
}

fn bytes(c: &mut Criterion) {
    bench(c, "codec-bytes", true);
}

mod group {
    // criterion_group! defines an undocumented `pub fn`.
    #![allow(missing_docs)]
    criterion::criterion_group!(benches, super::msgs, super::bytes);
}
criterion_main!(group::benches);
