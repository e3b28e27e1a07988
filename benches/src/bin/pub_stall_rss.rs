//! A PUB publishing as fast as it can to a SUB that never reads, over tcp: with the HWMs at
//! 1000 and 1 KiB messages, the PUB drops what does not fit, so its memory must stay flat.
//!
//! `pub_stall_rss [seconds] [message-size]` (defaults: 60 s, 1024 B) prints the resident set
//! size every second and, at the end, the growth after a warm-up of 5 s.

use std::time::{Duration, Instant};

use bytes::Bytes;
use zmq_async::{Message, PubSocket, SocketOptions, SubSocket};
use zmq_benches::rss_kib;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), zmq_async::Error> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(60);
    let size: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1024);

    let mut opts = SocketOptions::default();
    opts.sndhwm = 1000;
    opts.rcvhwm = 1000;
    let mut publisher = PubSocket::with_options(opts.clone())?;
    let endpoint = publisher.bind("tcp://127.0.0.1:0").await?;
    let mut sub = SubSocket::with_options(opts)?;
    sub.subscribe("")?;
    sub.connect(&endpoint).await?;
    // Wait until the subscription is in force, then never read again.
    loop {
        publisher.send(Message::from("sync")).await?;
        if tokio::time::timeout(Duration::from_millis(10), sub.recv())
            .await
            .is_ok()
        {
            break;
        }
    }

    let body = Bytes::from(vec![0x5Au8; size]);
    let start = Instant::now();
    let mut next_sample = Duration::ZERO;
    let mut sent: u64 = 0;
    let mut warm = None;
    let mut peak_after_warm = 0;
    while start.elapsed() < Duration::from_secs(seconds) {
        for _ in 0..1000 {
            publisher.send(Message::from(body.clone())).await?;
        }
        sent += 1000;
        // Let the connection tasks run: they move what fits and the rest is dropped.
        tokio::task::yield_now().await;
        let t = start.elapsed();
        if t >= next_sample {
            let rss = rss_kib();
            println!("t={:>3}s rss={rss} KiB sent={sent}", t.as_secs());
            if t >= Duration::from_secs(5) {
                warm.get_or_insert(rss);
                peak_after_warm = peak_after_warm.max(rss);
            }
            next_sample += Duration::from_secs(1);
        }
    }
    let base = warm.unwrap_or_else(rss_kib);
    println!(
        "messages sent: {sent}, rss after warm-up: {base} KiB, peak since: {peak_after_warm} KiB, growth: {} KiB",
        peak_after_warm.saturating_sub(base)
    );
    drop(sub);
    Ok(())
}
