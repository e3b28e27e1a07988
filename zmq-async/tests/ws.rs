//! ws:// (ZWS 2.0, RFC 45): every socket type tcp carries, PLAIN with ZAP, monitor events,
//! and peers that break the protocol.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::*;
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use zmq_async::zap::{self, StaticAuthenticator};
use zmq_async::{
    ClientSocket, DealerSocket, EventKind, Message, PairSocket, PubSocket, PullSocket, PushSocket,
    RepSocket, ReqSocket, RouterSocket, ServerSocket, SocketOptions, StreamSocket, SubSocket,
    XPubSocket, XSubSocket,
};

const ANY: &str = "ws://127.0.0.1:0";

#[tokio::test]
async fn bind_reports_the_real_port_and_the_path() {
    within(async {
        let mut pull = PullSocket::new();
        let bound = pull.bind("ws://127.0.0.1:0/zmq").await.unwrap();
        assert!(bound.starts_with("ws://127.0.0.1:"), "{bound}");
        assert!(bound.ends_with("/zmq"), "{bound}");
        assert!(!bound.contains(":0/"), "{bound}");
        let plain = pull.bind("ws://*:0").await.unwrap();
        assert!(
            plain.starts_with("ws://0.0.0.0:") && plain.ends_with('/'),
            "{plain}"
        );
        // A connect names the path; the listener takes any.
        let mut push = PushSocket::new();
        push.connect(&bound).await.unwrap();
        push.send(msg(&["over ws"])).await.unwrap();
        assert_eq!(strs(&pull.recv().await.unwrap()), ["over ws"]);
    })
    .await;
}

#[tokio::test]
async fn pub_sub_with_filters() {
    within(async {
        let mut publ = PubSocket::new();
        let e = publ.bind(ANY).await.unwrap();
        let mut sub = SubSocket::new();
        sub.subscribe(b"weather").unwrap();
        sub.connect(&e).await.unwrap();
        // Publish until the subscription has arrived (PUB drops what no one subscribed to).
        loop {
            publ.send(msg(&["sports", "x"])).await.unwrap();
            publ.send(msg(&["weather", "sunny"])).await.unwrap();
            if let Ok(Some(m)) =
                tokio::time::timeout(std::time::Duration::from_millis(50), sub.recv())
                    .await
                    .map(Result::ok)
            {
                assert_eq!(strs(&m), ["weather", "sunny"]);
                break;
            }
        }
    })
    .await;
}

#[tokio::test]
async fn xpub_sees_subscriptions_from_xsub() {
    within(async {
        let mut xpub = XPubSocket::new();
        let e = xpub.bind(ANY).await.unwrap();
        let mut xsub = XSubSocket::new();
        xsub.connect(&e).await.unwrap();
        xsub.send(Message::from(&b"\x01news"[..])).await.unwrap();
        assert_eq!(&xpub.recv().await.unwrap()[0][..], b"\x01news");
        xpub.send(msg(&["news", "today"])).await.unwrap();
        assert_eq!(strs(&xsub.recv().await.unwrap()), ["news", "today"]);
        xsub.send(Message::from(&b"\x00news"[..])).await.unwrap();
        assert_eq!(&xpub.recv().await.unwrap()[0][..], b"\x00news");
    })
    .await;
}

#[tokio::test]
async fn req_rep_and_dealer_router() {
    within(async {
        let mut rep = RepSocket::new();
        let e = rep.bind(ANY).await.unwrap();
        let mut req = ReqSocket::new();
        req.connect(&e).await.unwrap();
        for i in 0..3 {
            req.send(msg(&[&format!("q{i}")])).await.unwrap();
            let q = rep.recv().await.unwrap();
            rep.send(msg(&[&format!("a-{}", strs(&q)[0])]))
                .await
                .unwrap();
            assert_eq!(strs(&req.recv().await.unwrap()), [format!("a-q{i}")]);
        }

        let mut router = RouterSocket::new();
        let e = router.bind(ANY).await.unwrap();
        let mut o = SocketOptions::default();
        o.routing_id = Some(Bytes::from_static(b"dealer-7"));
        let mut dealer = DealerSocket::with_options(o).unwrap();
        dealer.connect(&e).await.unwrap();
        dealer.send(msg(&["", "hello"])).await.unwrap();
        let m = router.recv().await.unwrap();
        assert_eq!(strs(&m), ["dealer-7", "", "hello"]);
        router.send(msg(&["dealer-7", "", "back"])).await.unwrap();
        assert_eq!(strs(&dealer.recv().await.unwrap()), ["", "back"]);
    })
    .await;
}

#[tokio::test]
async fn push_pull_pair_and_large_messages() {
    within(async {
        let mut pull = PullSocket::new();
        let e = pull.bind(ANY).await.unwrap();
        let mut push = PushSocket::new();
        push.connect(&e).await.unwrap();
        // Past tungstenite's 16-bit length and the codec's zero-copy threshold.
        let big = vec![7u8; 200_000];
        push.send(Message::from(big.clone())).await.unwrap();
        for i in 0..100 {
            push.send(msg(&[&i.to_string()])).await.unwrap();
        }
        assert_eq!(&pull.recv().await.unwrap()[0][..], &big[..]);
        for i in 0..100 {
            assert_eq!(strs(&pull.recv().await.unwrap()), [i.to_string()]);
        }

        let mut a = PairSocket::new();
        let e = a.bind(ANY).await.unwrap();
        let mut b = PairSocket::new();
        b.connect(&e).await.unwrap();
        b.send(msg(&["ping"])).await.unwrap();
        assert_eq!(strs(&a.recv().await.unwrap()), ["ping"]);
        a.send(msg(&["pong", "two"])).await.unwrap();
        assert_eq!(strs(&b.recv().await.unwrap()), ["pong", "two"]);
    })
    .await;
}

#[tokio::test]
async fn client_server_over_ws() {
    within(async {
        let server = ServerSocket::new();
        let e = server.bind(ANY).await.unwrap();
        let client = ClientSocket::new();
        client.connect(&e).await.unwrap();
        client.send("hi").await.unwrap();
        let request = server.recv().await.unwrap();
        let id = request.routing_id().unwrap();
        server.send(Message::from("re").to(id)).await.unwrap();
        assert_eq!(strs(&client.recv().await.unwrap()), ["re"]);
    })
    .await;
}

#[tokio::test]
async fn stream_sockets_are_refused() {
    let mut s = StreamSocket::new();
    assert!(matches!(
        s.bind(ANY).await,
        Err(zmq_async::Error::TransportUnsupported(_))
    ));
}

#[tokio::test]
async fn plain_accepted_and_refused() {
    within(async {
        let auth = StaticAuthenticator::new().allow_plain("admin", "secret");
        let _zap = zap::serve(auth).await.unwrap();
        let mut pull = PullSocket::with_options(plain_server()).unwrap();
        let mut events = pull.monitor();
        let e = pull.bind(ANY).await.unwrap();

        let mut bad = PushSocket::with_options(plain_client("admin", "wrong")).unwrap();
        bad.connect(&e).await.unwrap();
        bad.send(msg(&["bad"])).await.unwrap();
        // The refusal shows in the monitor (ZAP said 400).
        loop {
            let ev = events.next().await.unwrap();
            if let EventKind::HandshakeFailedAuth { status_code, .. } = ev.kind {
                assert_eq!(status_code, 400);
                break;
            }
        }
        let mut good = PushSocket::with_options(plain_client("admin", "secret")).unwrap();
        good.connect(&e).await.unwrap();
        good.send(msg(&["good"])).await.unwrap();
        let m = pull.recv().await.unwrap();
        assert_eq!(strs(&m), ["good"]);
        assert_eq!(m.property("User-Id").map(|b| &b[..]), Some(&b"admin"[..]));
        // A NULL client offers no ZWS2.0/PLAIN: refused at the WebSocket handshake.
        let mut null = PushSocket::new();
        null.connect(&e).await.unwrap();
        null.send(msg(&["null"])).await.unwrap();
        loop {
            let ev = events.next().await.unwrap();
            if matches!(ev.kind, EventKind::HandshakeFailedNoDetail { .. }) {
                break;
            }
        }
        assert!(pull.try_recv().is_err());
    })
    .await;
}

#[tokio::test]
async fn monitor_events_as_for_tcp() {
    within(async {
        let mut pull = PullSocket::new();
        let mut events = pull.monitor();
        let e = pull.bind(ANY).await.unwrap();
        let mut push = PushSocket::new();
        let mut push_events = push.monitor();
        push.connect(&e).await.unwrap();
        push.send(msg(&["x"])).await.unwrap();
        pull.recv().await.unwrap();
        let kinds: Vec<_> = (&mut events).take(3).map(|e| e.kind).collect().await;
        assert_eq!(
            kinds,
            [
                EventKind::Listening,
                EventKind::Accepted,
                EventKind::HandshakeSucceeded
            ]
        );
        let kinds: Vec<_> = (&mut push_events).take(3).map(|e| e.kind).collect().await;
        assert_eq!(
            kinds,
            [
                EventKind::ConnectDelayed,
                EventKind::Connected,
                EventKind::HandshakeSucceeded
            ]
        );
        drop(push);
        let next = events.next().await.unwrap();
        assert_eq!(next.kind, EventKind::Disconnected);
    })
    .await;
}

/// A raw WebSocket client: what a hostile or foreign peer can send.
async fn raw_client(
    ep: &str,
    protocol: &str,
) -> Result<tokio_tungstenite::WebSocketStream<TcpStream>, tokio_tungstenite::tungstenite::Error> {
    let addr = ep.strip_prefix("ws://").unwrap().split('/').next().unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut request = ep.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    tokio_tungstenite::client_async(request, tcp)
        .await
        .map(|(ws, _)| ws)
}

/// Reads until the server closes; true if it did.
async fn closed_by_server(ws: &mut tokio_tungstenite::WebSocketStream<TcpStream>) -> bool {
    loop {
        match ws.next().await {
            None | Some(Err(_)) | Some(Ok(WsMessage::Close(_))) => return true,
            Some(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn bad_peers_are_closed_and_others_go_on() {
    within(async {
        let mut o = SocketOptions::default();
        o.maxmsgsize = Some(100);
        let mut pull = PullSocket::with_options(o).unwrap();
        let e = pull.bind(ANY).await.unwrap();

        // An unknown subprotocol: refused at the upgrade.
        assert!(raw_client(&e, "chat").await.is_err());

        // The bare ZWS2.0 protocol: routing ids first, then messages.
        let mut bare = raw_client(&e, "ZWS2.0").await.unwrap();
        bare.send(WsMessage::binary(&b"\x00"[..])).await.unwrap();
        bare.send(WsMessage::binary(&b"\x00bare"[..]))
            .await
            .unwrap();
        assert_eq!(strs(&pull.recv().await.unwrap()), ["bare"]);

        // A text message, bad flags, a message past maxmsgsize: each closes that peer.
        let ready = b"\x02\x05READY\x0bSocket-Type\x00\x00\x00\x04PUSH";
        for bad in [
            WsMessage::text("hello"),
            WsMessage::binary(&b"\x80x"[..]),
            WsMessage::binary(vec![0u8; 200]),
        ] {
            let mut ws = raw_client(&e, "ZWS2.0/NULL").await.unwrap();
            ws.send(WsMessage::binary(&ready[..])).await.unwrap();
            ws.send(bad).await.unwrap();
            assert!(closed_by_server(&mut ws).await);
        }

        // The socket still serves good peers.
        let mut push = PushSocket::new();
        push.connect(&e).await.unwrap();
        push.send(msg(&["still here"])).await.unwrap();
        assert_eq!(strs(&pull.recv().await.unwrap()), ["still here"]);
        assert!(pull.try_recv().is_err());
    })
    .await;
}

/// A self-signed certificate for these names (and IP addresses), and its key, in PEM.
fn certificate(names: &[&str]) -> (Bytes, Bytes) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let certified = rcgen::generate_simple_self_signed(names).unwrap();
    (
        Bytes::from(certified.cert.pem()),
        Bytes::from(certified.key_pair.serialize_pem()),
    )
}

fn wss_server((cert, key): &(Bytes, Bytes)) -> SocketOptions {
    let mut o = SocketOptions::default();
    o.wss_cert_pem = Some(cert.clone());
    o.wss_key_pem = Some(key.clone());
    o
}

fn wss_client(trust: &Bytes, hostname: Option<&str>) -> SocketOptions {
    let mut o = SocketOptions::default();
    o.wss_trust_pem = Some(trust.clone());
    o.wss_hostname = hostname.map(str::to_owned);
    o
}

#[tokio::test]
async fn wss_with_a_certificate_made_here() {
    within(async {
        let server_cert = certificate(&["127.0.0.1", "localhost"]);
        let mut rep = RepSocket::with_options(wss_server(&server_cert)).unwrap();
        let e = rep.bind("wss://127.0.0.1:0/secure").await.unwrap();
        assert!(
            e.starts_with("wss://127.0.0.1:") && e.ends_with("/secure"),
            "{e}"
        );
        // Checked for the endpoint's IP address, then for a name given.
        for hostname in [None, Some("localhost")] {
            let mut req = ReqSocket::with_options(wss_client(&server_cert.0, hostname)).unwrap();
            req.connect(&e).await.unwrap();
            req.send(msg(&["over TLS"])).await.unwrap();
            assert_eq!(strs(&rep.recv().await.unwrap()), ["over TLS"]);
            rep.send(msg(&["back over TLS", "two"])).await.unwrap();
            assert_eq!(strs(&req.recv().await.unwrap()), ["back over TLS", "two"]);
        }
    })
    .await;
}

#[tokio::test]
async fn wss_refuses_an_untrusted_or_misnamed_certificate() {
    within(async {
        let server_cert = certificate(&["127.0.0.1"]);
        let mut pull = PullSocket::with_options(wss_server(&server_cert)).unwrap();
        let e = pull.bind("wss://127.0.0.1:0").await.unwrap();
        let stranger = certificate(&["127.0.0.1"]);
        for options in [
            wss_client(&stranger.0, None),
            wss_client(&server_cert.0, Some("elsewhere.example")),
        ] {
            let mut push = PushSocket::with_options(options).unwrap();
            let mut events = push.monitor();
            push.connect(&e).await.unwrap();
            push.send(msg(&["must not arrive"])).await.unwrap();
            loop {
                let ev = events.next().await.unwrap();
                if let EventKind::HandshakeFailedNoDetail { reason, .. } = ev.kind {
                    assert!(reason.contains("TLS"), "{reason}");
                    break;
                }
            }
        }
        // A trusted client still gets through, and only its message arrives.
        let mut push = PushSocket::with_options(wss_client(&server_cert.0, None)).unwrap();
        push.connect(&e).await.unwrap();
        push.send(msg(&["trusted"])).await.unwrap();
        assert_eq!(strs(&pull.recv().await.unwrap()), ["trusted"]);
    })
    .await;
}

#[tokio::test]
async fn wss_options_are_checked_at_bind_and_connect() {
    let mut pull = PullSocket::new();
    assert!(matches!(
        pull.bind("wss://127.0.0.1:0").await,
        Err(zmq_async::Error::InvalidArgument(_))
    ));
    let mut o = SocketOptions::default();
    o.wss_cert_pem = Some(Bytes::from_static(b"not PEM"));
    o.wss_key_pem = Some(Bytes::from_static(b"not PEM"));
    let mut pull = PullSocket::with_options(o).unwrap();
    assert!(pull.bind("wss://127.0.0.1:0").await.is_err());
    // Trusting nothing is refused.
    let mut push = PushSocket::new();
    assert!(push.connect("wss://127.0.0.1:5555").await.is_err());
}

#[cfg(feature = "curve")]
#[tokio::test]
async fn curve_over_ws() {
    within(async {
        use zmtp_codec::CurveKeyPair;
        let (server_keys, client_keys) = (CurveKeyPair::generate(), CurveKeyPair::generate());
        let mut o = SocketOptions::default();
        o.curve_server = true;
        o.set_curve_keypair(&server_keys);
        let mut pull = PullSocket::with_options(o).unwrap();
        let e = pull.bind(ANY).await.unwrap();
        let mut o = SocketOptions::default();
        o.set_curve_keypair(&client_keys);
        o.set_curve_serverkey(server_keys.public).unwrap();
        let mut push = PushSocket::with_options(o).unwrap();
        push.connect(&e).await.unwrap();
        push.send(msg(&["sealed", "twice"])).await.unwrap();
        assert_eq!(strs(&pull.recv().await.unwrap()), ["sealed", "twice"]);
    })
    .await;
}

#[tokio::test]
async fn a_peer_that_never_answers_our_websocket_pings_is_dropped() {
    within(async {
        let mut o = SocketOptions::default();
        o.heartbeat_ivl = Some(std::time::Duration::from_millis(50));
        o.heartbeat_timeout = Some(std::time::Duration::from_millis(100));
        let mut pull = PullSocket::with_options(o).unwrap();
        let mut events = pull.monitor();
        let e = pull.bind(ANY).await.unwrap();
        // Handshaken, then silent: it never reads, so tungstenite never answers a PING.
        let mut ws = raw_client(&e, "ZWS2.0").await.unwrap();
        ws.send(WsMessage::binary(&b"\x00"[..])).await.unwrap();
        loop {
            let ev = events.next().await.unwrap();
            if ev.kind == EventKind::Disconnected {
                break;
            }
        }
        drop(ws);
    })
    .await;
}
