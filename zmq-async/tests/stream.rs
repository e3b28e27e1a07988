//! STREAM sockets with plain TCP and Unix-socket peers (no ZMTP on the wire).
#![allow(clippy::unwrap_used)]

mod common;
use bytes::Bytes;
use common::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zmq_async::{Error, Frame, Message, StreamSocket};

/// `[id, data]`.
fn to(id: &[u8], data: &[u8]) -> Message {
    Message::from(vec![Frame::from(id), Frame::from(data)])
}

/// The next message, which must be a notification (`[id, empty]`); returns the id.
async fn notification(socket: &mut StreamSocket) -> Frame {
    let m = socket.recv().await.unwrap();
    assert_eq!(m.len(), 2, "{m:?}");
    assert!(m[1].is_empty(), "expected a notification, got {m:?}");
    m[0].clone()
}

/// Receives from `id` until `want` bytes arrived (a peer's bytes may come in any chunks).
async fn recv_bytes(socket: &mut StreamSocket, id: &[u8], want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < want {
        let m = socket.recv().await.unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(&m[0], id);
        assert!(!m[1].is_empty(), "a notification before the data");
        got.extend_from_slice(&m[1]);
    }
    got
}

async fn bound() -> (StreamSocket, String) {
    let mut socket = StreamSocket::new();
    let endpoint = socket.bind("tcp://127.0.0.1:0").await.unwrap();
    let addr = endpoint.trim_start_matches("tcp://").to_owned();
    (socket, addr)
}

/// A plain TCP client of `socket` (bound at `addr`), and its routing id from the connect
/// notification.
async fn plain_client(socket: &mut StreamSocket, addr: &str) -> (TcpStream, Frame) {
    let stream = TcpStream::connect(addr).await.unwrap();
    (stream, notification(socket).await)
}

/// The next `n` bytes from a plain peer.
async fn read_n(stream: &mut (impl AsyncRead + Unpin), n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    stream.read_exact(&mut buf).await.unwrap();
    buf
}

/// A listener, `socket` connected to it, and the connection it accepted.
async fn connect_out(socket: &mut StreamSocket) -> (TcpListener, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    socket.connect(&format!("tcp://{addr}")).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (listener, server)
}

#[tokio::test]
async fn accepted_peer_notifies_exchanges_bytes_and_is_closed_by_an_empty_frame() {
    within(async {
        let (mut socket, addr) = bound().await;
        let (mut client, id) = plain_client(&mut socket, &addr).await;
        // libzmq's generated ids: a zero byte, then a u32.
        assert_eq!(id.len(), 5);
        assert_eq!(id[0], 0);

        client.write_all(b"hello").await.unwrap();
        assert_eq!(recv_bytes(&mut socket, &id, 5).await, b"hello");
        socket.send(to(&id, b"world")).await.unwrap();
        assert_eq!(read_n(&mut client, 5).await, b"world");

        // What was sent before the close is written before it.
        let big = vec![9u8; 1 << 20];
        socket.send(to(&id, &big)).await.unwrap();
        socket.send(to(&id, b"")).await.unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest.len(), big.len());
        assert!(rest == big);

        // The id is gone at once; the closed peer sends no disconnect notification: the
        // next message is the next peer's connect notification.
        assert!(matches!(
            socket.send(to(&id, b"late")).await,
            Err(Error::HostUnreachable)
        ));
        let (_second, id2) = plain_client(&mut socket, &addr).await;
        assert_ne!(id2, id);
    })
    .await;
}

#[tokio::test]
async fn a_peer_that_leaves_sends_a_disconnect_notification() {
    within(async {
        let (mut socket, addr) = bound().await;
        let (mut client, id) = plain_client(&mut socket, &addr).await;
        client.write_all(b"bye").await.unwrap();
        drop(client);
        assert_eq!(recv_bytes(&mut socket, &id, 3).await, b"bye");
        assert_eq!(notification(&mut socket).await, id);
    })
    .await;
}

#[tokio::test]
async fn replies_reach_the_peer_they_are_addressed_to() {
    within(async {
        let (mut socket, addr) = bound().await;
        let (mut a, id_a) = plain_client(&mut socket, &addr).await;
        let (mut b, id_b) = plain_client(&mut socket, &addr).await;
        assert_ne!(id_a, id_b);
        socket.send(to(&id_b, b"to-b")).await.unwrap();
        socket.send(to(&id_a, b"to-a")).await.unwrap();
        assert_eq!(read_n(&mut b, 4).await, b"to-b");
        assert_eq!(read_n(&mut a, 4).await, b"to-a");
    })
    .await;
}

#[tokio::test]
async fn connecting_out_keeps_the_routing_id_across_reconnects() {
    within(async {
        let mut socket = StreamSocket::new();
        let (listener, mut server) = connect_out(&mut socket).await;
        let id = notification(&mut socket).await;
        assert_eq!(id.len(), 5);

        socket.send(to(&id, b"ping")).await.unwrap();
        assert_eq!(read_n(&mut server, 4).await, b"ping");
        server.write_all(b"pong").await.unwrap();
        assert_eq!(recv_bytes(&mut socket, &id, 4).await, b"pong");

        // The server drops the connection: a disconnect notification, then a reconnect
        // with a connect notification under the same id (as libzmq).
        drop(server);
        assert_eq!(notification(&mut socket).await, id);
        let (mut server, _) = listener.accept().await.unwrap();
        assert_eq!(notification(&mut socket).await, id);
        socket.send(to(&id, b"again")).await.unwrap();
        assert_eq!(read_n(&mut server, 5).await, b"again");
    })
    .await;
}

#[tokio::test]
async fn connect_routing_id_names_the_peer_of_a_connect() {
    within(async {
        let mut socket = StreamSocket::new();
        socket
            .set_connect_routing_id(Some(Bytes::from_static(b"web")))
            .unwrap();
        let (_listener, mut server) = connect_out(&mut socket).await;
        // Consumed by that connect.
        assert_eq!(socket.options().connect_routing_id, None);
        assert_eq!(&notification(&mut socket).await[..], b"web");
        socket
            .send(to(&Bytes::from_static(b"web"), b"GET"))
            .await
            .unwrap();
        assert_eq!(read_n(&mut server, 3).await, b"GET");
        // A second peer cannot take a name in use (libzmq aborts).
        socket
            .set_connect_routing_id(Some(Bytes::from_static(b"web")))
            .unwrap();
        assert!(matches!(
            socket.connect("tcp://127.0.0.1:1").await,
            Err(Error::InvalidArgument(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn without_stream_notify_only_data_arrives() {
    within(async {
        let mut socket = StreamSocket::new();
        socket.set_stream_notify(false).unwrap();
        let endpoint = socket.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(endpoint.trim_start_matches("tcp://"))
            .await
            .unwrap();
        client.write_all(b"x").await.unwrap();
        drop(client);
        let m = socket.recv().await.unwrap();
        assert_eq!(&m[1][..], b"x");
        // The peer left without a notification: the next peer's bytes come next.
        let mut client = TcpStream::connect(endpoint.trim_start_matches("tcp://"))
            .await
            .unwrap();
        client.write_all(b"y").await.unwrap();
        let next = socket.recv().await.unwrap();
        assert_eq!(&next[1][..], b"y");
        assert_ne!(next[0], m[0]);
    })
    .await;
}

#[tokio::test]
async fn malformed_sends_are_refused() {
    within(async {
        let (mut socket, addr) = bound().await;
        let (_client, id) = plain_client(&mut socket, &addr).await;
        for bad in [
            Message::from(vec![id.clone()]),
            Message::from(vec![id.clone(), Frame::from("a"), Frame::from("b")]),
        ] {
            assert!(matches!(
                socket.send(bad).await,
                Err(Error::InvalidArgument(_))
            ));
        }
        let unknown = Bytes::from_static(b"\0nope");
        assert!(matches!(
            socket.send(to(&unknown, b"x")).await,
            Err(Error::HostUnreachable)
        ));
        assert!(matches!(
            socket.send(to(&unknown, b"")).await,
            Err(Error::HostUnreachable)
        ));
        assert!(matches!(
            socket.bind("inproc://stream").await,
            Err(Error::TransportUnsupported(_))
        ));
        assert!(matches!(
            socket.connect("inproc://stream").await,
            Err(Error::TransportUnsupported(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn two_stream_sockets_talk_raw_bytes() {
    within(async {
        let (mut server, addr) = bound().await;
        let mut client = StreamSocket::new();
        client.connect(&format!("tcp://{addr}")).await.unwrap();
        let at_client = notification(&mut client).await;
        let at_server = notification(&mut server).await;
        client.send(to(&at_client, b"raw")).await.unwrap();
        assert_eq!(recv_bytes(&mut server, &at_server, 3).await, b"raw");
        server.send(to(&at_server, b"")).await.unwrap();
        // The server closed it: the client hears the disconnect.
        assert_eq!(notification(&mut client).await, at_client);
    })
    .await;
}

#[cfg(unix)]
#[tokio::test]
async fn ipc_peers_are_raw_too() {
    within(async {
        let path = std::env::temp_dir().join(format!("zmq-stream-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut socket = StreamSocket::new();
        socket
            .bind(&format!("ipc://{}", path.display()))
            .await
            .unwrap();
        let mut client = tokio::net::UnixStream::connect(&path).await.unwrap();
        let id = notification(&mut socket).await;
        client.write_all(b"unix").await.unwrap();
        assert_eq!(recv_bytes(&mut socket, &id, 4).await, b"unix");
        socket.send(to(&id, b"ok")).await.unwrap();
        assert_eq!(read_n(&mut client, 2).await, b"ok");
        drop(socket);
        let _ = std::fs::remove_file(&path);
    })
    .await;
}

#[tokio::test]
async fn dropping_the_socket_writes_what_was_sent_then_closes() {
    within(async {
        let (mut socket, addr) = bound().await;
        let (mut client, id) = plain_client(&mut socket, &addr).await;
        socket.send(to(&id, b"last words")).await.unwrap();
        drop(socket);
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"last words");
    })
    .await;
}

#[tokio::test]
async fn a_peer_that_does_not_read_makes_sends_wait_at_sndhwm() {
    within(async {
        let mut socket = StreamSocket::new();
        socket.set_sndhwm(2).unwrap();
        let endpoint = socket.bind("tcp://127.0.0.1:0").await.unwrap();
        let (mut client, id) =
            plain_client(&mut socket, endpoint.trim_start_matches("tcp://")).await;
        // The client reads nothing: the kernel's buffers, then the session's write
        // backlog, then the pipe fill up, and a send would have to wait.
        let chunk = vec![5u8; 64 * 1024];
        let mut sent = 0usize;
        loop {
            match socket.try_send(to(&id, &chunk)) {
                Ok(()) => sent += chunk.len(),
                Err(e) if matches!(e.error(), Error::WouldBlock) => break,
                Err(e) => panic!("send: {e}"),
            }
            // Let the session move what it can, so WouldBlock means full, not busy.
            tokio::task::yield_now().await;
        }
        socket.send(to(&id, b"")).await.unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), sent);
        assert!(got.iter().all(|&b| b == 5));
    })
    .await;
}
