//! One listener type and one stream type for every byte-stream transport (tcp, ipc).
//!
//! The engine drives a ZMTP connection over a [`Stream`] without knowing which transport
//! carries it; [`bind`] and [`connect`] dispatch on the [`Endpoint`].

use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use crate::endpoint::{Endpoint, WsEndpoint};
use crate::ipc::{self, IpcListener};
use crate::tcp::{self, TcpListener, TcpOptions};
use crate::Error;

/// Options for the byte-stream transports, grouped by transport.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamOptions {
    /// Options for `tcp://` endpoints.
    pub tcp: TcpOptions,
}

/// A connected byte stream over tcp or ipc.
///
/// Reads and writes pass straight through to the inner Tokio stream, including vectored
/// writes, so a writer that batches frames into one `writev` keeps doing so.
#[derive(Debug)]
#[non_exhaustive]
pub enum Stream {
    /// A tcp connection (`TCP_NODELAY` set).
    Tcp(TcpStream),
    /// A Unix domain socket connection.
    Ipc(UnixStream),
}

impl Stream {
    /// The transport family's scheme: `"tcp"` or `"ipc"`.
    pub fn scheme(&self) -> &'static str {
        match self {
            Stream::Tcp(_) => "tcp",
            Stream::Ipc(_) => "ipc",
        }
    }

    /// The address of the peer, for logging and for ZAP's address field.
    pub fn peer_addr(&self) -> io::Result<PeerAddr> {
        match self {
            Stream::Tcp(stream) => stream.peer_addr().map(PeerAddr::Tcp),
            Stream::Ipc(stream) => stream.peer_addr().map(PeerAddr::Ipc),
        }
    }
}

impl Stream {
    /// Splits the stream into a reading and a writing half, each owned, so that one task
    /// can read while others write (through [`StreamWriter::try_write_vectored`], which
    /// needs only a shared reference). Dropping the writing half ends the sending side.
    pub fn into_split(self) -> (StreamReader, StreamWriter) {
        match self {
            Stream::Tcp(s) => {
                let (r, w) = s.into_split();
                (StreamReader::Tcp(r), StreamWriter::Tcp(w))
            }
            Stream::Ipc(s) => {
                let (r, w) = s.into_split();
                (StreamReader::Ipc(r), StreamWriter::Ipc(w))
            }
        }
    }
}

/// The reading half of a [`Stream`] ([`Stream::into_split`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum StreamReader {
    /// tcp.
    Tcp(tokio::net::tcp::OwnedReadHalf),
    /// ipc.
    Ipc(tokio::net::unix::OwnedReadHalf),
}

/// The writing half of a [`Stream`] ([`Stream::into_split`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum StreamWriter {
    /// tcp.
    Tcp(tokio::net::tcp::OwnedWriteHalf),
    /// ipc.
    Ipc(tokio::net::unix::OwnedWriteHalf),
}

impl StreamWriter {
    /// Writes what the stream takes of `bufs` in one vectored write, without waiting and
    /// through a shared reference: the bytes written, or `WouldBlock`.
    pub fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            StreamWriter::Tcp(s) => s.try_write_vectored(bufs),
            StreamWriter::Ipc(s) => s.try_write_vectored(bufs),
        }
    }
}

impl StreamReader {
    /// Reads what the stream has into `buf`'s spare room, without waiting and without
    /// registering for readiness: the bytes read (`0` at the end of the stream), or
    /// `WouldBlock`.
    pub fn try_read_buf(&self, buf: &mut bytes::BytesMut) -> io::Result<usize> {
        match self {
            StreamReader::Tcp(s) => s.try_read_buf(buf),
            StreamReader::Ipc(s) => s.try_read_buf(buf),
        }
    }
}

impl AsyncRead for StreamReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            StreamReader::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            StreamReader::Ipc(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for StreamWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            StreamWriter::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            StreamWriter::Ipc(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            StreamWriter::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            StreamWriter::Ipc(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            StreamWriter::Tcp(s) => Pin::new(s).poll_flush(cx),
            StreamWriter::Ipc(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            StreamWriter::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            StreamWriter::Ipc(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

impl From<TcpStream> for Stream {
    fn from(stream: TcpStream) -> Self {
        Stream::Tcp(stream)
    }
}

impl From<UnixStream> for Stream {
    fn from(stream: UnixStream) -> Self {
        Stream::Ipc(stream)
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Ipc(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Ipc(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Ipc(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Tcp(s) => s.is_write_vectored(),
            Stream::Ipc(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Ipc(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Ipc(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// Where an accepted connection came from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum PeerAddr {
    /// The remote tcp address.
    Tcp(SocketAddr),
    /// The peer's Unix socket address; usually unnamed, since clients rarely bind.
    Ipc(tokio::net::unix::SocketAddr),
}

impl fmt::Display for PeerAddr {
    /// `tcp://ip:port`, or `ipc://path` / `ipc://@name` when the client bound a name, else
    /// `ipc://` (libzmq likewise reports an empty address for ipc peers).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerAddr::Tcp(SocketAddr::V4(v4)) => write!(f, "tcp://{v4}"),
            PeerAddr::Tcp(SocketAddr::V6(v6)) => write!(f, "tcp://[{}]:{}", v6.ip(), v6.port()),
            PeerAddr::Ipc(addr) => match (addr.as_pathname(), abstract_name(addr)) {
                (Some(path), _) => write!(f, "ipc://{}", path.display()),
                (None, Some(name)) => write!(f, "ipc://@{}", String::from_utf8_lossy(name)),
                (None, None) => f.write_str("ipc://"),
            },
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_name(addr: &tokio::net::unix::SocketAddr) -> Option<&[u8]> {
    addr.as_abstract_name()
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_name(_addr: &tokio::net::unix::SocketAddr) -> Option<&[u8]> {
    None
}

/// A bound listener for tcp or ipc.
#[derive(Debug)]
#[non_exhaustive]
pub enum Listener {
    /// A tcp listener.
    Tcp(TcpListener),
    /// An ipc listener (removes its socket file on drop).
    Ipc(IpcListener),
    /// A `ws://` or `wss://` listener: tcp's, with the endpoint's path and scheme. What it
    /// accepts is a tcp [`Stream`]; the WebSocket handshake is the engine's to run
    /// ([`crate::ws::server_handshake`]).
    Ws {
        /// The tcp listener.
        tcp: TcpListener,
        /// The endpoint as bound (its path, its scheme).
        endpoint: WsEndpoint,
        /// `wss://`.
        secure: bool,
    },
}

impl Listener {
    /// The endpoint actually bound, wildcards resolved (libzmq's `ZMQ_LAST_ENDPOINT`):
    /// `tcp://127.0.0.1:*` becomes e.g. `tcp://127.0.0.1:41234`, `ipc://*` a real path.
    pub fn local_endpoint(&self) -> Endpoint {
        match self {
            Listener::Tcp(l) => Endpoint::Tcp(l.local_endpoint()),
            Listener::Ipc(l) => Endpoint::Ipc(l.local_endpoint()),
            Listener::Ws {
                tcp,
                endpoint,
                secure,
            } => {
                let ws = WsEndpoint {
                    tcp: tcp.local_endpoint(),
                    path: endpoint.path.clone(),
                };
                if *secure {
                    Endpoint::Wss(ws)
                } else {
                    Endpoint::Ws(ws)
                }
            }
        }
    }

    /// Polls for the next incoming connection.
    ///
    /// An error concerns one connection attempt (or a transient shortage such as `EMFILE`):
    /// the listener stays usable, and an accept loop should log and continue (libzmq backs
    /// off briefly on `EMFILE`).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Stream, PeerAddr)>> {
        Poll::Ready(Ok(match self {
            Listener::Tcp(l) | Listener::Ws { tcp: l, .. } => {
                let (stream, peer) = ready!(l.poll_accept(cx))?;
                (Stream::Tcp(stream), PeerAddr::Tcp(peer))
            }
            Listener::Ipc(l) => {
                let (stream, peer) = ready!(l.poll_accept(cx))?;
                (Stream::Ipc(stream), PeerAddr::Ipc(peer))
            }
        }))
    }

    /// Waits for the next incoming connection; see [`poll_accept`](Self::poll_accept).
    pub async fn accept(&self) -> io::Result<(Stream, PeerAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }
}

/// Binds a byte-stream endpoint (tcp or ipc), or the tcp listener of a ws or wss one.
///
/// inproc, pgm and epgm endpoints return [`Error::Unsupported`]: inproc is the socket
/// layer's own rendezvous (`zmq-async`'s `inproc` module, beside the sockets, as in libzmq
/// where it belongs to the context), and the datagram transports will get their own entry
/// point.
///
/// Must be called within a Tokio runtime.
pub async fn bind(endpoint: &Endpoint, options: &StreamOptions) -> Result<Listener, Error> {
    match endpoint {
        Endpoint::Tcp(tcp) => tcp::bind(tcp, &options.tcp).await.map(Listener::Tcp),
        Endpoint::Ipc(ipc) => ipc::bind(ipc).await.map(Listener::Ipc),
        Endpoint::Ws(ws) | Endpoint::Wss(ws) => {
            let tcp = tcp::bind(&ws.tcp, &options.tcp).await?;
            Ok(Listener::Ws {
                tcp,
                endpoint: ws.clone(),
                secure: matches!(endpoint, Endpoint::Wss(_)),
            })
        }
        other => Err(not_a_stream(other)),
    }
}

/// Connects to a byte-stream endpoint (tcp or ipc), or makes the tcp connection of a ws or
/// wss one (the WebSocket handshake follows: [`crate::ws::client_handshake`]); see [`bind`]
/// for the other transports.
///
/// Must be called within a Tokio runtime.
pub async fn connect(endpoint: &Endpoint, options: &StreamOptions) -> Result<Stream, Error> {
    match endpoint {
        Endpoint::Tcp(tcp) => tcp::connect(tcp, &options.tcp).await.map(Stream::Tcp),
        Endpoint::Ipc(ipc) => ipc::connect(ipc).await.map(Stream::Ipc),
        Endpoint::Ws(ws) | Endpoint::Wss(ws) => {
            tcp::connect(&ws.tcp, &options.tcp).await.map(Stream::Tcp)
        }
        other => Err(not_a_stream(other)),
    }
}

fn not_a_stream(endpoint: &Endpoint) -> Error {
    Error::Unsupported {
        endpoint: endpoint.to_string(),
        transport: endpoint.scheme(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn exchange(bind_at: &str) -> (Endpoint, PeerAddr) {
        let options = StreamOptions::default();
        let listener = bind(&bind_at.parse().unwrap(), &options).await.unwrap();
        let bound = listener.local_endpoint();
        let (client, server) = tokio::join!(connect(&bound, &options), listener.accept());
        let (mut client, (mut server, peer)) = (client.unwrap(), server.unwrap());
        assert_eq!(client.scheme(), bound.scheme());
        // Both inner streams support writev; the wrapper must say so too.
        assert!(client.is_write_vectored() && server.is_write_vectored());

        // A vectored write goes out as one writev: a fresh local socket takes all 5 bytes.
        let parts = [IoSlice::new(b"he"), IoSlice::new(b"llo")];
        assert_eq!(client.write_vectored(&parts).await.unwrap(), 5);
        let mut buf = [0; 5];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");

        server.shutdown().await.unwrap();
        assert_eq!(
            client.read(&mut buf).await.unwrap(),
            0,
            "EOF after shutdown"
        );
        (bound, peer)
    }

    #[tokio::test]
    async fn tcp_through_the_unified_types() {
        let (bound, peer) = exchange("tcp://127.0.0.1:*").await;
        assert!(bound.to_string().starts_with("tcp://127.0.0.1:"));
        assert!(peer.to_string().starts_with("tcp://127.0.0.1:"));
    }

    #[tokio::test]
    async fn ipc_through_the_unified_types() {
        let (bound, peer) = exchange("ipc://*").await;
        assert!(matches!(bound, Endpoint::Ipc(crate::IpcEndpoint::Path(_))));
        assert_eq!(peer.to_string(), "ipc://");
    }

    #[tokio::test]
    async fn non_stream_endpoints_are_refused() {
        let options = StreamOptions::default();
        for endpoint in [
            "inproc://x",
            "pgm://eth0;239.1.1.1:5555",
            "epgm://eth0;239.1.1.1:5555",
        ] {
            let endpoint: Endpoint = endpoint.parse().unwrap();
            assert!(matches!(
                bind(&endpoint, &options).await,
                Err(Error::Unsupported { .. })
            ));
            assert!(matches!(
                connect(&endpoint, &options).await,
                Err(Error::Unsupported { .. })
            ));
        }
    }
}
