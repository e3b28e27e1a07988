//! Our RADIO and DISH against libzmq 4.3.5's (built with the DRAFT API), both ways: over
//! tcp and ipc (each side binding in turn), over `udp://` unicast on 127.0.0.1, and over
//! `udp://` multicast across the veth pair of the namespace test bed
//! (`zmq-transports/tests/netns/`), ours to ours and ours to libzmq both ways.
//!
//! libzmq runs in a child process (`DraftsPeer`) whose calls block; the test body runs on
//! the runtime's `block_on` thread, so our sockets' tasks go on meanwhile on the worker
//! threads. JOINs travel asynchronously and udp has no handshake, so each case sends a sync
//! message until one arrives, then checks what follows exactly.
//!
//! The multicast cases need root and `ip`; without them they say they were skipped.

#![allow(clippy::unwrap_used)]

#[path = "../../zmq-transports/tests/netns/mod.rs"]
mod netns;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use zmq_async::{DishSocket, Message, RadioSocket};
use zmq_drafts_peer::{DraftsPeer, Send, EAGAIN};

/// A fresh endpoint to bind, ours or libzmq's.
fn fresh(transport: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    match transport {
        "tcp" => "tcp://127.0.0.1:*".to_owned(),
        "ipc" => format!(
            "ipc://{}/zmq-drafts-rd-{}-{}.sock",
            std::env::temp_dir().display(),
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ),
        // libzmq's DISH takes no wildcard port for udp: a port free a moment ago.
        _ => {
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            format!("udp://127.0.0.1:{}", socket.local_addr().unwrap().port())
        }
    }
}

/// Binds libzmq's socket to a fresh endpoint; the endpoint to connect to. (For `udp://`
/// libzmq's `ZMQ_LAST_ENDPOINT` is the address without its `udp://`, so the endpoint as
/// given.)
fn bound(peer: &mut DraftsPeer, transport: &str) -> String {
    let endpoint = fresh(transport);
    let last = peer.bind(&endpoint).unwrap();
    if transport == "udp" {
        assert!(!last.contains("://"), "libzmq's udp last endpoint: {last}");
        endpoint
    } else {
        last
    }
}

fn in_group(body: &str, group: &str) -> Message {
    Message::from(body.to_owned()).in_group(group).unwrap()
}

/// Our RADIO sends `group`'s sync message until libzmq's DISH has one.
async fn until_libzmq_has(radio: &RadioSocket, dish: &mut DraftsPeer, group: &str) {
    dish.set("rcvtimeo", 50).unwrap();
    for _ in 0..400 {
        radio.send(in_group("sync", group)).await.unwrap();
        match dish.recv() {
            Ok(frame) => {
                assert_eq!(
                    (frame.data.as_slice(), frame.group.as_deref()),
                    (&b"sync"[..], Some(group))
                );
                // Drain the other syncs on their way.
                while let Ok(frame) = dish.recv() {
                    assert_eq!(frame.group.as_deref(), Some(group));
                }
                dish.set("rcvtimeo", 5000).unwrap();
                return;
            }
            Err(e) if e.errno() == Some(EAGAIN) => {}
            Err(e) => panic!("libzmq recv: {e:?}"),
        }
    }
    panic!("libzmq's DISH got nothing of {group}");
}

/// libzmq's RADIO sends `group`'s sync message until our DISH has one.
async fn until_we_have(radio: &mut DraftsPeer, dish: &DishSocket, group: &str) {
    for _ in 0..400 {
        radio.send(b"sync", Send::group(group)).unwrap();
        if let Ok(m) = tokio::time::timeout(Duration::from_millis(50), dish.recv()).await {
            let m = m.unwrap();
            assert_eq!(
                (&m[0][..], m.group()),
                (&b"sync"[..], Some(group.as_bytes()))
            );
            while let Ok(m) = dish.try_recv() {
                assert_eq!(m.group(), Some(group.as_bytes()));
            }
            return;
        }
    }
    panic!("our DISH got nothing of {group}");
}

/// Our RADIO to libzmq's DISH, joined to `weather`: only `weather` arrives, then after a
/// LEAVE and a JOIN only `traffic`.
async fn ours_to_libzmq(radio: &RadioSocket, dish: &mut DraftsPeer, what: &str) {
    until_libzmq_has(radio, dish, "weather").await;
    radio.send(in_group("jam", "traffic")).await.unwrap();
    radio.send(in_group("sun", "weather")).await.unwrap();
    let frame = dish.recv().unwrap();
    assert_eq!(frame.data, b"sun", "{what}");
    assert_eq!(frame.group.as_deref(), Some("weather"), "{what}");
    assert!(!frame.more, "{what}: one frame");
    dish.leave("weather").unwrap();
    dish.join("traffic").unwrap();
    until_libzmq_has(radio, dish, "traffic").await;
    radio.send(in_group("rain", "weather")).await.unwrap();
    radio.send(in_group("clear", "traffic")).await.unwrap();
    let frame = dish.recv().unwrap();
    assert_eq!(
        (frame.data.as_slice(), frame.group.as_deref()),
        (&b"clear"[..], Some("traffic")),
        "{what}"
    );
}

/// libzmq's RADIO to our DISH, joined to `weather`: the same script the other way.
async fn libzmq_to_ours(radio: &mut DraftsPeer, dish: &DishSocket, what: &str) {
    until_we_have(radio, dish, "weather").await;
    radio.send(b"jam", Send::group("traffic")).unwrap();
    radio.send(b"sun", Send::group("weather")).unwrap();
    let m = dish.recv().await.unwrap();
    assert_eq!(
        (&m[0][..], m.group()),
        (&b"sun"[..], Some(&b"weather"[..])),
        "{what}"
    );
    dish.leave("weather").unwrap();
    dish.join("traffic").unwrap();
    until_we_have(radio, dish, "traffic").await;
    radio.send(b"rain", Send::group("weather")).unwrap();
    radio.send(b"clear", Send::group("traffic")).unwrap();
    let m = dish.recv().await.unwrap();
    assert_eq!(
        (&m[0][..], m.group()),
        (&b"clear"[..], Some(&b"traffic"[..])),
        "{what}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_radio_to_a_libzmq_dish() {
    for transport in ["tcp", "ipc", "udp"] {
        // libzmq's DISH binds, ours connects.
        let mut dish = DraftsPeer::spawn("DISH");
        let endpoint = bound(&mut dish, transport);
        dish.join("weather").unwrap();
        let radio = RadioSocket::new();
        radio.connect(&endpoint).await.unwrap();
        ours_to_libzmq(&radio, &mut dish, &format!("{transport}, libzmq binds")).await;
        if transport == "udp" {
            continue;
        }
        // Ours binds, libzmq's DISH connects.
        let radio = RadioSocket::new();
        let endpoint = radio.bind(&fresh(transport)).await.unwrap();
        let mut dish = DraftsPeer::spawn("DISH");
        dish.join("weather").unwrap();
        dish.connect(&endpoint).unwrap();
        ours_to_libzmq(&radio, &mut dish, &format!("{transport}, ours binds")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_libzmq_radio_to_our_dish() {
    for transport in ["tcp", "ipc", "udp"] {
        // Our DISH binds, libzmq's RADIO connects.
        let dish = DishSocket::new();
        let endpoint = dish.bind(&fresh(transport)).await.unwrap();
        dish.join("weather").unwrap();
        let mut radio = DraftsPeer::spawn("RADIO");
        radio.connect(&endpoint).unwrap();
        libzmq_to_ours(&mut radio, &dish, &format!("{transport}, ours binds")).await;
        if transport == "udp" {
            continue;
        }
        // libzmq's RADIO binds, ours connects.
        let mut radio = DraftsPeer::spawn("RADIO");
        let endpoint = radio.bind(&fresh(transport)).unwrap();
        let dish = DishSocket::new();
        dish.join("weather").unwrap();
        dish.connect(&endpoint).await.unwrap();
        libzmq_to_ours(&mut radio, &dish, &format!("{transport}, libzmq binds")).await;
    }
}

/// Groups of up to 255 bytes (libzmq 4.3.5's `ZMQ_GROUP_MAX_LENGTH`; 15 before 4.3.3)
/// cross both ways; joining a longer one is refused on both sides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_groups_cross_both_ways() {
    let long = "g".repeat(200);
    let mut dish = DraftsPeer::spawn("DISH");
    let endpoint = dish.bind(&fresh("tcp")).unwrap();
    dish.join(&long).unwrap();
    let radio = RadioSocket::new();
    radio.connect(&endpoint).await.unwrap();
    until_libzmq_has(&radio, &mut dish, &long).await;

    let dish = DishSocket::new();
    let endpoint = dish.bind(&fresh("tcp")).await.unwrap();
    dish.join(&long).unwrap();
    let mut radio = DraftsPeer::spawn("RADIO");
    radio.connect(&endpoint).unwrap();
    until_we_have(&mut radio, &dish, &long).await;

    let too_long = "g".repeat(256);
    // (libzmq's `zmq_msg_set_group` takes a C string and cuts it at 255 bytes, so its
    // RADIO cannot be made to send a longer group; ours refuses one.)
    assert!(Message::from("x").in_group(&too_long).is_err());
    assert!(dish.join(&too_long).is_err());
    let mut libzmq_dish = DraftsPeer::spawn("DISH");
    assert_eq!(libzmq_dish.join(&too_long).unwrap_err().errno(), Some(22));
}

// ---- multicast across the namespace pair ---------------------------------------------

const GROUP_IP: &str = "239.192.48.1";

/// Runs `f` on a thread inside `ns` with a multi-thread runtime (its worker threads are
/// created from inside the namespace, so they live there too): the libzmq side blocks.
fn in_ns<F, Fut>(ns: &netns::Netns, f: F) -> std::thread::JoinHandle<()>
where
    F: FnOnce() -> Fut + std::marker::Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let path = format!("/run/netns/{}", ns.name);
    let file = std::fs::File::open(&path).unwrap();
    std::thread::spawn(move || {
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(f())
    })
}

/// A libzmq peer inside `ns`.
fn libzmq_in(ns: &netns::Netns, socket_type: &str) -> DraftsPeer {
    let mut command = ns.command(zmq_drafts_peer::EXECUTABLE);
    command.arg(socket_type);
    DraftsPeer::spawn_command(command)
}

/// RADIO in namespace A sends to the group through `va`; DISH in B binds the group on
/// `vb`. Every pairing of ours and libzmq's.
#[test]
fn multicast_across_the_namespace_pair() {
    let Some(bed) = netns::TestBed::new("radio_dish_multicast") else {
        return;
    };
    let port = 7648;
    let radio_ep = format!("udp://{};{GROUP_IP}:{port}", netns::ADDR_A);
    let dish_ep = format!("udp://{};{GROUP_IP}:{port}", netns::ADDR_B);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();

    // Ours to ours, then ours to libzmq: our RADIO in A.
    let radio_thread = {
        let radio_ep = radio_ep.clone();
        in_ns(&bed.a, move || async move {
            let radio = RadioSocket::new();
            radio.connect(&radio_ep).await.unwrap();
            // Sends until told to stop: the DISHes in B sync on these.
            let mut i = 0u64;
            while matches!(
                ready_rx.try_recv(),
                Err(std::sync::mpsc::TryRecvError::Empty)
            ) {
                radio
                    .send(in_group(&format!("ours {i}"), "mc"))
                    .await
                    .unwrap();
                i += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let dish_ep_ours = dish_ep.clone();
    in_ns(&bed.b, move || async move {
        let dish = DishSocket::new();
        dish.bind(&dish_ep_ours).await.unwrap();
        dish.join("mc").unwrap();
        let m = tokio::time::timeout(netns::GUARD, dish.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.group(), Some(&b"mc"[..]));
        assert!(m[0].starts_with(b"ours "), "{m:?}");
        let mut libzmq = libzmq_in_current_ns();
        libzmq.bind(&dish_ep_ours).unwrap();
        libzmq.join("mc").unwrap();
        let frame = libzmq.recv().unwrap();
        assert_eq!(frame.group.as_deref(), Some("mc"));
        assert!(frame.data.starts_with(b"ours "), "{frame:?}");
    })
    .join()
    .unwrap();
    ready_tx.send(()).unwrap();
    radio_thread.join().unwrap();

    // libzmq's RADIO in A to our DISH in B.
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let mut libzmq_radio = libzmq_in(&bed.a, "RADIO");
    libzmq_radio.connect(&radio_ep).unwrap();
    let dish_thread = in_ns(&bed.b, move || async move {
        let dish = DishSocket::new();
        dish.bind(&dish_ep).await.unwrap();
        dish.join("mc").unwrap();
        let m = tokio::time::timeout(netns::GUARD, dish.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((&m[0][..], m.group()), (&b"libzmq"[..], Some(&b"mc"[..])));
        done_tx.send(()).unwrap();
    });
    let start = std::time::Instant::now();
    while done_rx.try_recv().is_err() && !dish_thread.is_finished() {
        assert!(
            start.elapsed() < netns::GUARD,
            "nothing from libzmq's RADIO"
        );
        libzmq_radio.send(b"libzmq", Send::group("mc")).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    dish_thread.join().unwrap();
}

/// A libzmq peer in the calling thread's namespace (its child process inherits it).
fn libzmq_in_current_ns() -> DraftsPeer {
    DraftsPeer::spawn("DISH")
}
