//! The PGM driver over real sockets, in network namespaces the tests make (see `netns/`):
//! `epgm://` and `pgm://` on a namespace's loopback, and `epgm://` across a veth pair with
//! `nft` dropping packets at random in both directions. Every message must arrive once and
//! in order, with no loss reported. Needs root, `ip` and `nft`; skipped (with a message)
//! without root.
//!
//! ```sh
//! cargo test -p zmq-transports --test pgm_netns -- --nocapture
//! ```

#![allow(clippy::unwrap_used)]

mod netns;

use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::timeout;
use zmq_transports::multicast::{Delivery, PgmOptions, PgmReceiver, PgmSender};
use zmq_transports::pgm::Rng;
use zmq_transports::{Endpoint, Error};
use zmtp_codec::Message;

use netns::{loopback_ns, TestBed, ADDR_B, DEV_A, GUARD};

/// Message `i` of a run: its number, then (for most) a body of a size drawn from the seed,
/// up to 3000 bytes (so messages span TSDUs and TSDUs hold several messages).
fn message(seed: u64, i: usize) -> Message {
    let mut rng = Rng::new(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut m = Message::from(i.to_string());
    match rng.next_u64() % 4 {
        0 => {}
        1 => m.push_back(vec![b'b'; (rng.next_u64() % 40) as usize]),
        _ => m.push_back(vec![(i % 251) as u8; (rng.next_u64() % 3000) as usize]),
    }
    m
}

fn options() -> PgmOptions {
    let mut o = PgmOptions::default();
    o.rate_kbit = 20_000;
    o
}

async fn collect(
    receiver: &mut PgmReceiver,
    seed: u64,
    last: usize,
) -> (Vec<usize>, Vec<Delivery>) {
    netns::collect(receiver, |i| message(seed, i), last).await
}

async fn send_range(sender: &PgmSender, seed: u64, range: std::ops::Range<usize>) {
    netns::send_all(sender, range.map(|i| message(seed, i))).await
}

#[test]
fn epgm_on_loopback_one_sender_two_receivers() {
    let test = "epgm_on_loopback_one_sender_two_receivers";
    on_loopback(test, "epgm", 0, options());
}

#[test]
fn pgm_raw_on_loopback_one_sender_two_receivers() {
    let test = "pgm_raw_on_loopback_one_sender_two_receivers";
    on_loopback(test, "pgm", 0, options());
}

/// Repair between sockets of one host: NAKs reach the sender's socket, not a receiver's.
#[test]
fn epgm_on_loopback_at_5_percent_loss_small_tpdu() {
    let mut o = options();
    o.max_tpdu = 576;
    let test = "epgm_on_loopback_at_5_percent_loss_small_tpdu";
    on_loopback(test, "epgm", 5, o);
}

#[test]
fn pgm_raw_on_loopback_at_5_percent_loss() {
    let test = "pgm_raw_on_loopback_at_5_percent_loss";
    on_loopback(test, "pgm", 5, options());
}

/// A sender and two receivers in one namespace on its loopback, `loss` % of the packets
/// (data, SPMs and NAKs alike) dropped on the way in.
fn on_loopback(test: &str, scheme: &str, loss: u32, o: PgmOptions) {
    let Some(ns) = loopback_ns(test) else { return };
    let port = 7555;
    if loss > 0 {
        let filter = match scheme {
            "pgm" => "ip protocol 113".to_owned(),
            _ => format!("udp dport {port}"),
        };
        ns.drop_input(&filter, loss);
    }
    let endpoint: Endpoint = format!("{scheme}://lo;239.192.7.1:{port}").parse().unwrap();
    const N: usize = 300;
    let seed = 11;
    ns.spawn(move || async move {
        let mut r1 = PgmReceiver::open(&endpoint, &o).await.unwrap();
        let mut r2 = PgmReceiver::open(&endpoint, &o).await.unwrap();
        let sender = PgmSender::open(&endpoint, &o).await.unwrap();
        let tsi = sender.tsi();
        let receivers = tokio::spawn(async move {
            let a = collect(&mut r1, seed, N - 1).await;
            let b = collect(&mut r2, seed, N - 1).await;
            (a, b, r1, r2)
        });
        send_range(&sender, seed, 0..N).await;
        let ((n1, o1), (n2, o2), mut r1, _r2) = receivers.await.unwrap();
        let all: Vec<usize> = (0..N).collect();
        assert_eq!(n1, all);
        assert_eq!(n2, all);
        assert!(o1.is_empty() && o2.is_empty(), "{o1:?} {o2:?}");
        sender.close(Duration::ZERO).await.unwrap();
        // The FIN SPMs end the session at the receivers (unless all three are dropped).
        if loss == 0 {
            let end = timeout(GUARD, r1.recv()).await.unwrap().unwrap();
            assert_eq!(end, Delivery::SourceEnded { source: tsi });
        }
    })
    .join()
    .unwrap();
    if loss > 0 {
        let dropped = ns.dropped();
        eprintln!("{test}: {N} messages, {loss}% loss, seed {seed}: dropped {dropped} packets");
        assert!(dropped > 0, "nft dropped nothing");
    }
}

/// A sender in A, two receivers in B from the start and one that joins halfway, `loss` %
/// of the packets dropped entering each namespace (data and SPMs into B, NAKs into A) once
/// the first two have message 0. (Before that a receiver that misses the session's first
/// SPMs and its first data starts later, as PGM defines: OpenPGM's does the same.)
fn across_veth(test: &str, loss: u32, n: usize, seed: u64) {
    let Some(bed) = TestBed::new(test) else {
        return;
    };
    let port = 7555;
    // The sender names its interface, the receivers give their address.
    let to_a: Endpoint = format!("epgm://{DEV_A};239.192.7.2:{port}")
        .parse()
        .unwrap();
    let to_b: Endpoint = format!("epgm://{ADDR_B};239.192.7.2:{port}")
        .parse()
        .unwrap();
    let (ready_tx, ready_rx) = oneshot::channel();
    let (joined_tx, joined_rx) = std::sync::mpsc::channel();
    let (lossy_tx, lossy_rx) = oneshot::channel();
    let (late_tx, late_rx) = oneshot::channel();
    let (done_tx, done_rx) = oneshot::channel();
    let receivers = bed.b.spawn(move || async move {
        let o = options();
        let mut r1 = PgmReceiver::open(&to_b, &o).await.unwrap();
        let mut r2 = PgmReceiver::open(&to_b, &o).await.unwrap();
        ready_tx.send(()).unwrap();
        let (mut a, mut b) = tokio::join!(collect(&mut r1, seed, 0), collect(&mut r2, seed, 0));
        joined_tx.send(()).unwrap();
        // The late joiner joins once both have the first half: nobody asks for it again.
        let half = n / 2 - 1;
        let (a1, b1) = tokio::join!(collect(&mut r1, seed, half), collect(&mut r2, seed, half));
        let mut r3 = PgmReceiver::open(&to_b, &o).await.unwrap();
        late_tx.send(()).unwrap();
        let (a2, b2, late) = tokio::join!(
            collect(&mut r1, seed, n - 1),
            collect(&mut r2, seed, n - 1),
            collect(&mut r3, seed, n - 1)
        );
        done_tx.send(()).unwrap();
        for (x, ys) in [(&mut a, [a1, a2]), (&mut b, [b1, b2])] {
            for y in ys {
                x.0.extend(y.0);
                x.1.extend(y.1);
            }
        }
        (a, b, late)
    });
    let sender = bed.a.spawn(move || async move {
        timeout(GUARD, ready_rx).await.unwrap().unwrap();
        let sender = PgmSender::open(&to_a, &options()).await.unwrap();
        send_range(&sender, seed, 0..1).await;
        timeout(GUARD, lossy_rx).await.unwrap().unwrap();
        send_range(&sender, seed, 1..n / 2).await;
        timeout(GUARD, late_rx).await.unwrap().unwrap();
        send_range(&sender, seed, n / 2..n).await;
        // Repairs are served until every receiver has everything.
        timeout(GUARD, done_rx).await.unwrap().unwrap();
        sender.close(Duration::ZERO).await.unwrap();
    });
    joined_rx.recv_timeout(GUARD).unwrap();
    if loss > 0 {
        bed.b.drop_input(&format!("udp dport {port}"), loss);
        bed.a.drop_input(&format!("udp dport {port}"), loss);
    }
    lossy_tx.send(()).unwrap();
    let ((n1, o1), (n2, o2), (n3, o3)) = receivers.join().unwrap();
    sender.join().unwrap();
    let dropped = if loss > 0 {
        (bed.b.dropped(), bed.a.dropped())
    } else {
        (0, 0)
    };
    eprintln!(
        "{test}: {n} messages, {loss}% loss, seed {seed}: dropped {} packets into B, {} into A; \
         late joiner got {} messages from {}",
        dropped.0,
        dropped.1,
        n3.len(),
        n3.first().copied().unwrap_or(n)
    );
    let all: Vec<usize> = (0..n).collect();
    assert_eq!(n1, all, "receiver 1");
    assert_eq!(n2, all, "receiver 2");
    assert!(o1.is_empty() && o2.is_empty(), "{o1:?} {o2:?}");
    // The late joiner gets an unbroken run up to the last message.
    let first = n3[0];
    assert!(first >= n / 2, "late joiner started at {first}");
    assert_eq!(n3, (first..n).collect::<Vec<_>>(), "late joiner");
    assert!(o3.is_empty(), "{o3:?}");
    if loss > 0 {
        assert!(
            dropped.0 > 0,
            "nft dropped nothing: the repair path was not exercised"
        );
    }
}

#[test]
fn epgm_across_veth_without_loss() {
    across_veth("epgm_across_veth_without_loss", 0, 1000, 1);
}

#[test]
fn epgm_across_veth_at_5_percent_loss() {
    across_veth("epgm_across_veth_at_5_percent_loss", 5, 2000, 2);
}

#[test]
fn epgm_across_veth_at_20_percent_loss() {
    across_veth("epgm_across_veth_at_20_percent_loss", 20, 1000, 3);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn bad_endpoints_and_options_are_clear_errors() {
    let rt = runtime();
    let open = |endpoint: &str, options: PgmOptions| {
        let endpoint: Endpoint = endpoint.parse().unwrap();
        let r = rt.block_on(PgmReceiver::open(&endpoint, &options));
        let s = rt.block_on(PgmSender::open(&endpoint, &options));
        (r.unwrap_err(), s.unwrap_err())
    };
    for (r, s) in [
        open("epgm://no-such-if0;239.1.1.1:7555", options()),
        open("pgm://../lo;239.1.1.1:7555", options()),
        // No interface has an address of the documentation range.
        open("epgm://192.0.2.1;239.1.1.1:7555", options()),
    ] {
        for e in [r.to_string(), s.to_string()] {
            assert!(e.contains("no interface"), "{e}");
        }
        assert!(matches!(r, Error::NoInterface { .. }), "{r:?}");
        assert!(matches!(s, Error::NoInterface { .. }), "{s:?}");
    }
    let (r, s) = open("epgm://lo;[ff02::1]:7555", options());
    assert!(matches!(r, Error::Unsupported { .. }), "{r:?}");
    assert!(matches!(s, Error::Unsupported { .. }), "{s:?}");
    let (r, _) = open("tcp://127.0.0.1:7555", options());
    assert!(matches!(r, Error::Unsupported { .. }), "{r:?}");
    let invalid = |e: &Error| match e {
        Error::InvalidOption { option, .. } => Some(*option),
        _ => None,
    };
    let mut o = options();
    o.multicast_hops = 0;
    let (r, s) = open("epgm://127.0.0.1;239.1.1.1:7555", o);
    assert_eq!(invalid(&r), Some("multicast_hops"), "{r:?}");
    assert_eq!(invalid(&s), Some("multicast_hops"), "{s:?}");
    let mut o = options();
    o.max_tpdu = 100;
    let (r, _) = open("epgm://127.0.0.1;239.1.1.1:7555", o);
    assert_eq!(invalid(&r), Some("multicast_maxtpdu"), "{r:?}");
}

/// `pgm://` without `CAP_NET_RAW`: run as root, the test runs itself again with the
/// capability dropped from the bounding set (`setpriv`), and the child checks the error.
#[test]
fn pgm_without_raw_sockets_is_a_clear_error() {
    const CHILD: &str = "ZMQT_PGM_NO_NET_RAW";
    let privileged = netns::available("pgm_without_raw_sockets_is_a_clear_error (as root)");
    if std::env::var_os(CHILD).is_some() || !privileged {
        let rt = runtime();
        // By address: resolving a name by device needs no privilege either, but keep the
        // child away from everything but the raw socket.
        let endpoint: Endpoint = "pgm://127.0.0.1;239.192.7.3:7557".parse().unwrap();
        let r = rt
            .block_on(PgmReceiver::open(&endpoint, &options()))
            .unwrap_err();
        let s = rt
            .block_on(PgmSender::open(&endpoint, &options()))
            .unwrap_err();
        for e in [&r, &s] {
            assert!(matches!(e, Error::RawSocketDenied { .. }), "{e:?}");
            assert!(e.to_string().contains("use epgm://"), "{e}");
        }
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("setpriv")
        .args(["--bounding-set=-net_raw", "--inh-caps=-net_raw"])
        .arg(exe)
        .args([
            "--exact",
            "pgm_without_raw_sockets_is_a_clear_error",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .expect("setpriv (util-linux)");
    assert!(
        out.status.success(),
        "the child without CAP_NET_RAW failed: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Deliveries wait in the bounded channels (a high-water mark of 1 on both sides) and in the
/// receive window while the application reads one receiver after the other.
#[test]
fn epgm_with_high_water_marks_of_one() {
    let test = "epgm_with_high_water_marks_of_one";
    let mut o = options();
    o.send_hwm = 1;
    o.recv_hwm = 1;
    on_loopback(test, "epgm", 0, o);
}

/// A source whose data is not libzmq's framing: the receiver reports it and goes on with the
/// next message boundary.
#[test]
fn malformed_framing_is_reported_and_skipped() {
    use zmq_transports::pgm::packet::Nla;
    use zmq_transports::pgm::{Source, SourceConfig};

    let Some(ns) = loopback_ns("malformed_framing_is_reported_and_skipped") else {
        return;
    };
    let port = 7557;
    let endpoint: Endpoint = format!("epgm://127.0.0.1;239.192.7.6:{port}")
        .parse()
        .unwrap();
    ns.spawn(move || async move {
        let mut receiver = PgmReceiver::open(&endpoint, &options()).await.unwrap();
        let now = std::time::Instant::now();
        let config = SourceConfig::new([9; 6], 4000, port, Nla::V4([127, 0, 0, 1]));
        let mut source = Source::new(config, now);
        // A frame of length 0 (ZMTP 1.0 counts the flags byte: 0 is impossible), then a
        // TSDU that starts a message at offset 0: `[3, 0, "ok"]`.
        for tsdu in [&b"\x00\x00\x00\x00"[..], b"\x00\x00\x03\x00ok"] {
            source
                .handle_send(now, bytes::Bytes::from_static(tsdu))
                .unwrap();
        }
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        udp.set_multicast_loop_v4(true).unwrap();
        while let Some(t) = source.poll_transmit() {
            udp.send_to(&t.datagram, ("239.192.7.6", port))
                .await
                .unwrap();
        }
        let tsi = source.tsi();
        let first = timeout(GUARD, receiver.recv()).await.unwrap().unwrap();
        assert!(
            matches!(first, Delivery::Malformed { source, .. } if source == tsi),
            "{first:?}"
        );
        let second = timeout(GUARD, receiver.recv()).await.unwrap().unwrap();
        assert_eq!(
            second,
            Delivery::Message {
                source: tsi,
                message: Message::from("ok")
            }
        );
    })
    .join()
    .unwrap();
}

/// `try_send` queues up to the high-water mark and hands back what does not fit (a PUB
/// socket drops it); what was queued arrives.
#[test]
fn try_send_hands_back_what_does_not_fit() {
    use zmq_transports::multicast::TrySendError;

    let Some(ns) = loopback_ns("try_send_hands_back_what_does_not_fit") else {
        return;
    };
    let endpoint: Endpoint = "epgm://lo;239.192.7.7:7558".parse().unwrap();
    ns.spawn(move || async move {
        let mut o = options();
        o.send_hwm = 1;
        let mut receiver = PgmReceiver::open(&endpoint, &o).await.unwrap();
        let sender = PgmSender::open(&endpoint, &o).await.unwrap();
        // On this current-thread runtime the sender's task has not run yet: the queue
        // holds one message.
        sender.try_send(Message::from("kept")).unwrap();
        assert_eq!(
            sender.try_send(Message::from("dropped")),
            Err(TrySendError::Full(Message::from("dropped")))
        );
        let d = timeout(GUARD, receiver.recv()).await.unwrap().unwrap();
        assert!(
            matches!(&d, Delivery::Message { message, .. } if *message == Message::from("kept")),
            "{d:?}"
        );
        sender.close(Duration::ZERO).await.unwrap();
    })
    .join()
    .unwrap();
}
