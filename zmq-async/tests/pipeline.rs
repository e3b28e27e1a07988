//! PUSH/PULL (libzmq test_spec_pushpull and friends).
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use zmq_async::{Error, Message, PullSocket, PushSocket, SocketOptions};

#[tokio::test]
async fn pull_fair_queues_across_pushers() {
    within(async {
        let e = ep("fq");
        let mut pull = PullSocket::new();
        pull.bind(&e).await.unwrap();
        let mut pushers = Vec::new();
        for _ in 0..5 {
            let mut p = PushSocket::new();
            p.connect(&e).await.unwrap();
            pushers.push(p);
        }
        // Peer i sends letters i and i+5: A,F from peer 1 … E,J from peer 5.
        let letters = ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J"];
        for (i, p) in pushers.iter_mut().enumerate() {
            p.send(msg(&[letters[i]])).await.unwrap();
            p.send(msg(&[letters[i + 5]])).await.unwrap();
        }
        let mut got = Vec::new();
        for _ in 0..10 {
            got.push(strs(&pull.recv().await.unwrap())[0].clone());
        }
        assert_eq!(got, letters);
        assert!(matches!(pull.try_recv(), Err(Error::WouldBlock)));
    })
    .await;
}

#[tokio::test]
async fn push_load_balances_round_robin() {
    within(async {
        let e = ep("lb");
        let mut push = PushSocket::new();
        push.bind(&e).await.unwrap();
        let mut pulls = Vec::new();
        for _ in 0..3 {
            let mut p = PullSocket::new();
            p.connect(&e).await.unwrap();
            pulls.push(p);
        }
        for i in 0..9 {
            push.send(msg(&[&i.to_string()])).await.unwrap();
        }
        for (k, p) in pulls.iter_mut().enumerate() {
            for round in 0..3 {
                let m = p.recv().await.unwrap();
                assert_eq!(strs(&m), [(round * 3 + k).to_string()]);
            }
            assert!(matches!(p.try_recv(), Err(Error::WouldBlock)));
        }
    })
    .await;
}

#[tokio::test]
async fn push_blocks_at_hwm_then_resumes() {
    within(async {
        let e = ep("hwm");
        let mut pull = PullSocket::new();
        pull.set_rcvhwm(3).unwrap();
        pull.bind(&e).await.unwrap();
        let mut push = PushSocket::new();
        push.set_sndhwm(2).unwrap();
        push.connect(&e).await.unwrap();
        // inproc: the pipe holds SNDHWM + RCVHWM messages, as libzmq.
        for i in 0..5 {
            push.try_send(msg(&[&i.to_string()])).unwrap();
        }
        let err = push.try_send(msg(&["x"])).unwrap_err();
        assert!(err.is_would_block());
        assert_eq!(strs(&err.into_message()), ["x"]);

        // A blocked send completes once the reader makes room.
        let sender = tokio::spawn(async move {
            push.send(msg(&["5"])).await.unwrap();
            push
        });
        assert_eq!(strs(&pull.recv().await.unwrap()), ["0"]);
        let _push = sender.await.unwrap();
        for i in 1..6 {
            assert_eq!(strs(&pull.recv().await.unwrap()), [i.to_string()]);
        }
    })
    .await;
}

#[tokio::test]
async fn push_without_peers_waits() {
    let mut push = PushSocket::new();
    assert!(push.try_send(msg(&["x"])).unwrap_err().is_would_block());
    let e = ep("late");
    push.connect(&e).await.unwrap(); // not bound yet: pipe exists, message queues
    push.try_send(msg(&["queued"])).unwrap();
    let mut pull = PullSocket::new();
    pull.bind(&e).await.unwrap();
    within(async { assert_eq!(strs(&pull.recv().await.unwrap()), ["queued"]) }).await;
}

#[tokio::test]
async fn immediate_creates_no_pipe_before_bind() {
    let e = ep("immediate");
    let mut push = PushSocket::new();
    push.set_immediate(true).unwrap();
    push.connect(&e).await.unwrap();
    assert!(push.try_send(msg(&["x"])).unwrap_err().is_would_block());
    let mut pull = PullSocket::new();
    pull.bind(&e).await.unwrap();
    within(async {
        push.send(msg(&["after"])).await.unwrap();
        assert_eq!(strs(&pull.recv().await.unwrap()), ["after"]);
    })
    .await;
}

#[tokio::test]
async fn message_shapes_zero_huge_many_parts() {
    within(async {
        let e = ep("shapes");
        let mut pull = PullSocket::new();
        pull.bind(&e).await.unwrap();
        let mut push = PushSocket::new();
        push.connect(&e).await.unwrap();

        push.send(Message::from(Vec::<u8>::new())).await.unwrap();
        let big = vec![0xA5u8; 16 << 20];
        push.send(Message::from(big.clone())).await.unwrap();
        let parts: Message = (0..100u32).map(|i| i.to_be_bytes().to_vec()).collect();
        push.send(parts.clone()).await.unwrap();

        let m = pull.recv().await.unwrap();
        assert_eq!(m.len(), 1);
        assert!(m[0].is_empty());
        assert_eq!(pull.recv().await.unwrap()[0], big);
        assert_eq!(pull.recv().await.unwrap(), parts);
        assert!(matches!(
            push.send(Message::new()).await,
            Err(Error::EmptyMessage)
        ));
    })
    .await;
}

#[tokio::test]
async fn conflate_keeps_only_the_last() {
    within(async {
        let e = ep("conflate");
        let mut opts = SocketOptions::default();
        opts.conflate = true;
        let mut pull = PullSocket::with_options(opts).unwrap();
        pull.bind(&e).await.unwrap();
        let mut push = PushSocket::new();
        push.connect(&e).await.unwrap();
        for i in 0..10 {
            push.send(msg(&[&i.to_string()])).await.unwrap();
        }
        assert_eq!(strs(&pull.recv().await.unwrap()), ["9"]);
        assert!(matches!(pull.try_recv(), Err(Error::WouldBlock)));
    })
    .await;
}

#[tokio::test]
async fn endpoint_errors() {
    let mut a = PullSocket::new();
    let e = ep("inuse");
    a.bind(&e).await.unwrap();
    let mut b = PullSocket::new();
    assert!(matches!(b.bind(&e).await, Err(Error::AddrInUse(_))));
    assert!(matches!(
        b.bind("epgm://127.0.0.1;239.192.1.1:5555").await,
        Err(Error::IncompatibleTransport(_))
    ));
    assert!(matches!(
        b.connect("tipc://127.0.0.1:80").await,
        Err(Error::TransportUnsupported(_))
    ));
    let tcp = a.bind("tcp://127.0.0.1:0").await.unwrap();
    assert!(matches!(b.bind(&tcp).await, Err(Error::AddrInUse(_))));
    assert!(matches!(
        b.bind("nonsense").await,
        Err(Error::InvalidEndpoint(_))
    ));
    assert!(matches!(
        b.unbind(&e).await,
        Err(Error::EndpointNotFound(_))
    ));
    // tcp/ipc endpoints this socket never bound or connected: not found, as libzmq's ENOENT.
    for never in ["tcp://127.0.0.1:1", "ipc:///tmp/zmq-async-never-bound.ipc"] {
        assert!(matches!(
            b.unbind(never).await,
            Err(Error::EndpointNotFound(_))
        ));
        assert!(matches!(
            b.disconnect(never).await,
            Err(Error::EndpointNotFound(_))
        ));
    }
    assert!(matches!(
        b.unbind("nonsense").await,
        Err(Error::InvalidEndpoint(_))
    ));
    a.unbind(&e).await.unwrap();
    b.bind(&e).await.unwrap(); // free again
    drop(b);
    a.bind(&e).await.unwrap(); // dropping a socket unbinds
}

#[tokio::test]
async fn disconnect_removes_the_peer() {
    within(async {
        let e = ep("disc");
        let mut pull = PullSocket::new();
        pull.bind(&e).await.unwrap();
        let mut push = PushSocket::new();
        push.connect(&e).await.unwrap();
        assert_eq!(push.peer_count(), 1);
        push.disconnect(&e).await.unwrap();
        assert_eq!(push.peer_count(), 0);
        assert!(push.try_send(msg(&["x"])).unwrap_err().is_would_block());
        assert_eq!(pull.peer_count(), 0);
    })
    .await;
}

/// A raw ZMTP PUSH (our codec over a bare tcp stream) writes bursts of messages, each burst
/// in one write, so that the PULL's connection reads it whole: bursts of a multiple of the
/// connection's batch (256 messages) end its decoding exactly at a batch's end, after which
/// it must still read what comes next.
#[tokio::test]
async fn a_read_ending_on_a_batch_boundary_is_read_past() {
    use tokio::io::AsyncWriteExt;
    use zmtp_codec::{Config, Connection, SocketType};

    within(async {
        let mut pull = PullSocket::new();
        let endpoint = pull.bind("tcp://127.0.0.1:0").await.unwrap();
        let addr = endpoint.trim_start_matches("tcp://");
        let conn = Connection::new(Config::new(SocketType::Push), std::time::Instant::now());
        let (mut conn, mut stream) = raw_peer(addr, conn.unwrap()).await;
        let mut seq = 0u32;
        for burst in [256, 1, 512, 1, 255, 1, 257, 1, 256, 256, 1] {
            let mut bytes = Vec::new();
            for i in seq..seq + burst {
                conn.send(&msg(&[&i.to_string()])).unwrap();
            }
            while let Some(out) = conn.poll_transmit() {
                bytes.extend_from_slice(&out);
            }
            stream.write_all(&bytes).await.unwrap();
            for i in seq..seq + burst {
                assert_eq!(strs(&pull.recv().await.unwrap()), [i.to_string()]);
            }
            seq += burst;
        }
    })
    .await;
}
