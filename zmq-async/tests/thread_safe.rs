//! The thread-safe draft types: CLIENT/SERVER, SCATTER/GATHER, PEER, CHANNEL over inproc,
//! tcp and ipc, and one socket used from many tasks at once.
#![allow(clippy::unwrap_used)]

mod common;
use std::collections::HashSet;
use std::sync::Arc;

use common::*;
use zmq_async::{
    ChannelSocket, ClientSocket, Error, GatherSocket, Message, PeerInfo, PeerSocket, ScatterSocket,
    ServerSocket, SocketType,
};

#[tokio::test]
async fn client_server_reply_by_routing_id_on_every_transport() {
    within(async {
        for endpoint in endpoints("cs") {
            let server = ServerSocket::new();
            let endpoint = server.bind(&endpoint).await.unwrap();
            let (a, b) = (ClientSocket::new(), ClientSocket::new());
            a.connect(&endpoint).await.unwrap();
            b.connect(&endpoint).await.unwrap();
            a.send("from a").await.unwrap();
            b.send("from b").await.unwrap();
            let mut ids = Vec::new();
            for _ in 0..2 {
                let request = server.recv().await.unwrap();
                let id = request.routing_id().expect("stamped");
                ids.push(id);
                let reply = format!("re: {}", String::from_utf8_lossy(&request[0]));
                server.send(Message::from(reply).to(id)).await.unwrap();
            }
            assert_ne!(ids[0], ids[1], "{endpoint}: each client has its own id");
            assert_eq!(strs(&a.recv().await.unwrap()), ["re: from a"], "{endpoint}");
            let reply = b.recv().await.unwrap();
            assert_eq!(strs(&reply), ["re: from b"], "{endpoint}");
            assert_eq!(
                reply.routing_id(),
                None,
                "{endpoint}: the id stays on the server"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn server_refuses_unknown_or_missing_routing_ids() {
    within(async {
        let server = ServerSocket::new();
        let endpoint = server.bind(&ep("srv-unknown")).await.unwrap();
        let client = ClientSocket::new();
        client.connect(&endpoint).await.unwrap();
        client.send("hi").await.unwrap();
        let id = server.recv().await.unwrap().routing_id().unwrap();
        let other = id.checked_add(1).unwrap();
        let err = server.send(Message::from("x").to(other)).await.unwrap_err();
        assert!(matches!(err, Error::HostUnreachable), "{err:?}");
        let err = server.try_send("no id").unwrap_err();
        assert!(matches!(err.error(), Error::HostUnreachable), "{err:?}");
        assert_eq!(&err.into_message()[0][..], b"no id");
    })
    .await;
}

#[tokio::test]
async fn multipart_sends_are_invalid_for_every_type() {
    within(async {
        let two = || msg(&["a", "b"]);
        let is_einval = |e: &Error| matches!(e, Error::InvalidArgument(_));
        assert!(is_einval(
            &ClientSocket::new().send(two()).await.unwrap_err()
        ));
        assert!(is_einval(
            &ServerSocket::new().send(two()).await.unwrap_err()
        ));
        assert!(is_einval(
            &ScatterSocket::new().send(two()).await.unwrap_err()
        ));
        assert!(is_einval(&PeerSocket::new().send(two()).await.unwrap_err()));
        assert!(is_einval(
            &ChannelSocket::new().send(two()).await.unwrap_err()
        ));
        let err = ClientSocket::new().try_send(two()).unwrap_err();
        assert!(is_einval(err.error()));
        assert_eq!(
            err.into_message().len(),
            2,
            "the message is handed back whole"
        );
    })
    .await;
}

/// A peer that sends a multipart message (only a non-conforming one can) has it
/// dropped; the single frames around it arrive.
#[tokio::test]
async fn multipart_messages_from_a_peer_are_dropped() {
    within(async {
        let server = ServerSocket::new();
        let mut pipes = server
            .handle()
            .attach(Some(PeerInfo::new(SocketType::Client)), None)
            .unwrap();
        pipes.inbound.push(msg(&["one"])).await.unwrap();
        pipes.inbound.push(msg(&["two", "frames"])).await.unwrap();
        pipes.inbound.push(msg(&["three"])).await.unwrap();
        assert_eq!(strs(&server.recv().await.unwrap()), ["one"]);
        assert_eq!(strs(&server.recv().await.unwrap()), ["three"]);
        assert!(matches!(server.try_recv(), Err(Error::WouldBlock)));
    })
    .await;
}

#[tokio::test]
async fn scatter_gather_on_every_transport() {
    within(async {
        for endpoint in endpoints("sg") {
            let gather = GatherSocket::new();
            let endpoint = gather.bind(&endpoint).await.unwrap();
            let scatter = ScatterSocket::new();
            scatter.connect(&endpoint).await.unwrap();
            for i in 0..10 {
                scatter.send(format!("{i}")).await.unwrap();
            }
            for i in 0..10 {
                assert_eq!(strs(&gather.recv().await.unwrap()), [format!("{i}")]);
            }
        }
    })
    .await;
}

#[tokio::test]
async fn peers_address_each_other_from_connect_peer_on_every_transport() {
    within(async {
        for endpoint in endpoints("peer") {
            let a = PeerSocket::new();
            let endpoint = a.bind(&endpoint).await.unwrap();
            let b = PeerSocket::new();
            let a_at_b = b.connect_peer(&endpoint).await.unwrap();
            // b speaks first, to the id connect_peer gave: no message from a needed.
            b.send(Message::from("hello a").to(a_at_b)).await.unwrap();
            let hello = a.recv().await.unwrap();
            assert_eq!(strs(&hello), ["hello a"]);
            let b_at_a = hello.routing_id().unwrap();
            a.send(Message::from("hello b").to(b_at_a)).await.unwrap();
            let back = b.recv().await.unwrap();
            assert_eq!(strs(&back), ["hello b"], "{endpoint}");
            assert_eq!(back.routing_id(), Some(a_at_b), "{endpoint}");
        }
    })
    .await;
}

#[tokio::test]
async fn connect_peer_refuses_immediate() {
    within(async {
        let peer = PeerSocket::new();
        let mut options = peer.options();
        options.immediate = true;
        peer.set_options(options).unwrap();
        let err = peer.connect_peer(&ep("peer-imm")).await.unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn channels_pair_up_on_every_transport() {
    within(async {
        for endpoint in endpoints("chan") {
            let a = ChannelSocket::new();
            let endpoint = a.bind(&endpoint).await.unwrap();
            let b = ChannelSocket::new();
            b.connect(&endpoint).await.unwrap();
            b.send("ping").await.unwrap();
            assert_eq!(strs(&a.recv().await.unwrap()), ["ping"]);
            a.send("pong").await.unwrap();
            assert_eq!(strs(&b.recv().await.unwrap()), ["pong"], "{endpoint}");
        }
    })
    .await;
}

/// Many tasks on one SERVER receive and reply at once; many tasks on one CLIENT send at
/// once and receive the replies. Every request is answered exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_socket_serves_many_tasks_at_once() {
    within(async {
        const TASKS: usize = 4;
        const EACH: usize = 50;
        let server = Arc::new(ServerSocket::new());
        let endpoint = server.bind("tcp://127.0.0.1:0").await.unwrap();
        for _ in 0..TASKS {
            let server = server.clone();
            tokio::spawn(async move {
                while let Ok(request) = server.recv().await {
                    // The request carries its sender's routing id: sent back, it echoes.
                    if server.send(request).await.is_err() {
                        return;
                    }
                }
            });
        }
        let client = Arc::new(ClientSocket::new());
        client.connect(&endpoint).await.unwrap();
        let mut workers = Vec::new();
        for t in 0..TASKS {
            let client = client.clone();
            workers.push(tokio::spawn(async move {
                let mut got = Vec::new();
                for i in 0..EACH {
                    client.send(format!("{t}-{i}")).await.unwrap();
                    let reply = client.recv().await.unwrap();
                    got.push(String::from_utf8(reply[0].to_vec()).unwrap());
                }
                got
            }));
        }
        let mut all = HashSet::new();
        for w in workers {
            for reply in w.await.unwrap() {
                assert!(all.insert(reply), "a reply came twice");
            }
        }
        let expected: HashSet<String> = (0..TASKS)
            .flat_map(|t| (0..EACH).map(move |i| format!("{t}-{i}")))
            .collect();
        assert_eq!(all, expected);
    })
    .await;
}

/// Every task waiting to receive is woken when messages come, not only the last to wait.
#[tokio::test]
async fn every_waiting_receiver_gets_a_message() {
    within(async {
        let gather = Arc::new(GatherSocket::new());
        let endpoint = gather.bind(&ep("ts-wake")).await.unwrap();
        let waiting: Vec<_> = (0..3)
            .map(|_| {
                let gather = gather.clone();
                tokio::spawn(async move { gather.recv().await.unwrap() })
            })
            .collect();
        // Let all three register before anything arrives.
        tokio::task::yield_now().await;
        let scatter = ScatterSocket::new();
        scatter.connect(&endpoint).await.unwrap();
        for i in 0..3 {
            scatter.send(format!("{i}")).await.unwrap();
        }
        let mut got: Vec<String> = Vec::new();
        for w in waiting {
            got.push(strs(&w.await.unwrap()).remove(0));
        }
        got.sort();
        assert_eq!(got, ["0", "1", "2"]);
    })
    .await;
}

/// A receive dropped while it waits (the losing branch of a `select!`) takes nothing.
#[tokio::test]
async fn a_cancelled_receive_loses_nothing() {
    within(async {
        let a = ChannelSocket::new();
        let endpoint = a.bind(&ep("ts-cancel")).await.unwrap();
        let b = ChannelSocket::new();
        b.connect(&endpoint).await.unwrap();
        tokio::select! {
            biased;
            _ = a.recv() => panic!("nothing was sent"),
            _ = tokio::task::yield_now() => {}
        }
        b.send("kept").await.unwrap();
        assert_eq!(strs(&a.recv().await.unwrap()), ["kept"]);
    })
    .await;
}

/// A SERVER's send to a peer at its HWM waits, and goes once the peer reads.
#[tokio::test]
async fn server_send_waits_for_room_at_its_peer() {
    within(async {
        let server = ServerSocket::new();
        let mut options = server.options();
        options.sndhwm = 1;
        server.set_options(options).unwrap();
        let endpoint = server.bind(&ep("srv-hwm")).await.unwrap();
        let client = ClientSocket::new();
        let mut options = client.options();
        options.rcvhwm = 1;
        client.set_options(options).unwrap();
        client.connect(&endpoint).await.unwrap();
        client.send("hi").await.unwrap();
        let id = server.recv().await.unwrap().routing_id().unwrap();
        let mut queued = 0;
        let blocked = loop {
            match server.try_send(Message::from(format!("{queued}")).to(id)) {
                Ok(()) => queued += 1,
                Err(e) if e.is_would_block() => break e.into_message(),
                Err(e) => panic!("{e:?}"),
            }
            assert!(queued < 1000, "the HWM never held");
        };
        assert_eq!(
            blocked.routing_id(),
            Some(id),
            "handed back still addressed"
        );
        let server = Arc::new(server);
        let sender = {
            let server = server.clone();
            tokio::spawn(async move { server.send(blocked).await })
        };
        for i in 0..=queued {
            assert_eq!(strs(&client.recv().await.unwrap()), [format!("{i}")]);
        }
        sender.await.unwrap().unwrap();
    })
    .await;
}

/// CHANNEL is PAIR's sibling: a second peer is refused.
#[tokio::test]
async fn a_channel_takes_one_peer() {
    within(async {
        let a = ChannelSocket::new();
        let endpoint = a.bind(&ep("chan-one")).await.unwrap();
        let (b, c) = (ChannelSocket::new(), ChannelSocket::new());
        b.connect(&endpoint).await.unwrap();
        c.connect(&endpoint).await.unwrap();
        assert_eq!(a.peer_count(), 1);
        b.send("from b").await.unwrap();
        assert_eq!(strs(&a.recv().await.unwrap()), ["from b"]);
    })
    .await;
}

/// A client that is gone cannot be sent to: the SERVER says so rather than queueing.
#[tokio::test]
async fn a_server_cannot_reach_a_client_that_left() {
    within(async {
        let server = ServerSocket::new();
        let endpoint = server.bind(&ep("srv-gone")).await.unwrap();
        let client = ClientSocket::new();
        client.connect(&endpoint).await.unwrap();
        client.send("bye").await.unwrap();
        let id = server.recv().await.unwrap().routing_id().unwrap();
        drop(client);
        let err = server.send(Message::from("late").to(id)).await.unwrap_err();
        assert!(matches!(err, Error::HostUnreachable), "{err:?}");
    })
    .await;
}

/// An owned thread-safe socket is a `Sink` and a `Stream`, as every socket is: a SCATTER
/// fed by `send_all` over tcp, a GATHER read with `StreamExt`; a multipart message given
/// to the sink is refused, and what was sent before it arrives.
#[tokio::test]
async fn owned_sockets_are_sinks_and_streams() {
    use futures::{SinkExt, StreamExt};
    within(async {
        let mut gather = GatherSocket::new();
        let endpoint = gather.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut scatter = ScatterSocket::new();
        scatter.connect(&endpoint).await.unwrap();
        let mut items = futures::stream::iter((0..100).map(|i| Ok(Message::from(i.to_string()))));
        scatter.send_all(&mut items).await.unwrap();
        let got: Vec<String> = (&mut gather)
            .take(100)
            .map(|m| String::from_utf8(m.unwrap()[0].to_vec()).unwrap())
            .collect()
            .await;
        let want: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        assert_eq!(got, want);

        let two: Message = ["a", "b"].into_iter().collect();
        assert!(matches!(
            SinkExt::send(&mut scatter, two).await,
            Err(Error::InvalidArgument(_))
        ));
        SinkExt::send(&mut scatter, Message::from("after"))
            .await
            .unwrap();
        assert_eq!(strs(&gather.next().await.unwrap().unwrap()), ["after"]);
    })
    .await;
}

/// A SERVER's stream stamps routing ids as `recv` does, and its sink sends by them.
#[tokio::test]
async fn a_server_stream_replies_through_its_sink() {
    use futures::{SinkExt, StreamExt};
    within(async {
        let mut server = ServerSocket::new();
        let endpoint = server.bind("inproc://ts-server-stream").await.unwrap();
        let client = ClientSocket::new();
        client.connect(&endpoint).await.unwrap();
        client.send("ping").await.unwrap();
        let request = server.next().await.unwrap().unwrap();
        let id = request.routing_id().expect("stamped");
        server.feed(Message::from("pong").to(id)).await.unwrap();
        server.flush().await.unwrap();
        assert_eq!(strs(&client.recv().await.unwrap()), ["pong"]);
    })
    .await;
}
