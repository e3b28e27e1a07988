//! `tcp://` endpoints: bind and connect with libzmq's socket options.
//!
//! Every stream, connected or accepted, has `TCP_NODELAY` set: ZMTP frames are small and
//! latency matters more than packet count (libzmq does the same).

use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::task::{Context, Poll};
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};
use tokio::net::TcpStream;
use tracing::debug;

use crate::endpoint::{Host, Port, TcpEndpoint};
use crate::Error;

/// Socket options for tcp, named after their libzmq counterparts.
///
/// The defaults are libzmq's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TcpOptions {
    /// `ZMQ_IPV6`. Off (the default): `tcp://*:p` binds `0.0.0.0` and names resolve to IPv4
    /// only. On: `tcp://*:p` binds `[::]` dual-stack (IPv4 peers arrive as mapped addresses),
    /// IPv6 sockets accept IPv4-mapped peers, and names resolve to both families.
    ///
    /// Unlike libzmq, an explicit IPv6 literal (`tcp://[::1]:p`) is accepted whatever this
    /// flag says: it cannot mean anything else.
    pub ipv6: bool,
    /// `ZMQ_TCP_KEEPALIVE`: `None` leaves the system default (libzmq's `-1`), `Some(false)`
    /// turns `SO_KEEPALIVE` off (`0`), `Some(true)` turns it on (`1`).
    pub keepalive: Option<bool>,
    /// `ZMQ_TCP_KEEPALIVE_IDLE` (`TCP_KEEPIDLE`); only applied when `keepalive` is on.
    pub keepalive_idle: Option<Duration>,
    /// `ZMQ_TCP_KEEPALIVE_CNT` (`TCP_KEEPCNT`); only applied when `keepalive` is on.
    pub keepalive_cnt: Option<u32>,
    /// `ZMQ_TCP_KEEPALIVE_INTVL` (`TCP_KEEPINTVL`); only applied when `keepalive` is on.
    pub keepalive_intvl: Option<Duration>,
    /// `ZMQ_BACKLOG`: the listen queue length (libzmq's default is 100).
    pub backlog: u32,
    /// `ZMQ_TOS`: the IP type-of-service byte (DSCP and ECN) of every stream, listeners'
    /// and connectors' alike (`IP_TOS`); `0` (the default) leaves the system's.
    pub tos: u32,
    /// `ZMQ_BINDTODEVICE`: the device (interface or VRF) every socket is bound to
    /// (`SO_BINDTODEVICE`, Linux only); `None` (the default) binds to none. Linux before 5.7
    /// needs `CAP_NET_RAW` for it; without, `bind` and `connect` fail.
    pub bindtodevice: Option<String>,
    /// `ZMQ_SNDBUF`: the kernel send buffer (`SO_SNDBUF`), in bytes; `None` (libzmq's `-1`,
    /// the default) leaves the system's. Linux doubles the value it is given.
    pub sndbuf: Option<usize>,
    /// `ZMQ_RCVBUF`: the kernel receive buffer (`SO_RCVBUF`), in bytes; `None` (libzmq's
    /// `-1`, the default) leaves the system's. Linux doubles the value it is given.
    pub rcvbuf: Option<usize>,
    /// `ZMQ_CONNECT_TIMEOUT`: how long one connection attempt may take before it fails with
    /// [`io::ErrorKind::TimedOut`]; `None` (libzmq's `0`, the default) leaves it to the
    /// kernel, which can take minutes.
    pub connect_timeout: Option<Duration>,
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions {
            ipv6: false,
            keepalive: None,
            keepalive_idle: None,
            keepalive_cnt: None,
            keepalive_intvl: None,
            backlog: 100,
            tos: 0,
            bindtodevice: None,
            sndbuf: None,
            rcvbuf: None,
            connect_timeout: None,
        }
    }
}

impl TcpOptions {
    /// Sets `keepalive` from libzmq's integer form: `-1` system default, `0` off, anything
    /// else on.
    pub fn set_zmq_keepalive(&mut self, value: i32) {
        self.keepalive = match value {
            -1 => None,
            0 => Some(false),
            _ => Some(true),
        };
    }

    /// Applies `tos`, `bindtodevice`, `sndbuf` and `rcvbuf` to a socket before it binds or
    /// connects (as libzmq's `tcp_open_socket` and listener do).
    fn prepare(&self, socket: SockRef<'_>, ipv6: bool) -> io::Result<()> {
        self.set_tos(&socket, ipv6)?;
        if let Some(device) = &self.bindtodevice {
            bind_device(&socket, device)?;
        }
        self.set_buffers(&socket)
    }

    fn set_tos(&self, socket: &SockRef<'_>, ipv6: bool) -> io::Result<()> {
        match self.tos {
            0 => Ok(()),
            tos if ipv6 => socket.set_tclass_v6(tos),
            tos => socket.set_tos(tos),
        }
    }

    fn set_buffers(&self, socket: &SockRef<'_>) -> io::Result<()> {
        if let Some(size) = self.sndbuf {
            socket.set_send_buffer_size(size)?;
        }
        if let Some(size) = self.rcvbuf {
            socket.set_recv_buffer_size(size)?;
        }
        Ok(())
    }

    /// Applies `TCP_NODELAY` and the keepalive options to a connected or accepted stream.
    fn configure(&self, stream: &TcpStream) -> io::Result<()> {
        stream.set_nodelay(true)?;
        let socket = SockRef::from(stream);
        match self.keepalive {
            None => Ok(()),
            Some(false) => socket.set_keepalive(false),
            Some(true) => socket.set_tcp_keepalive(&self.keepalive_params()),
        }
    }

    fn keepalive_params(&self) -> TcpKeepalive {
        let mut params = TcpKeepalive::new();
        if let Some(idle) = self.keepalive_idle {
            params = params.with_time(idle);
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            if let Some(interval) = self.keepalive_intvl {
                params = params.with_interval(interval);
            }
            if let Some(count) = self.keepalive_cnt {
                params = params.with_retries(count);
            }
        }
        params
    }
}

/// A bound tcp listener.
#[derive(Debug)]
pub struct TcpListener {
    inner: tokio::net::TcpListener,
    local: SocketAddr,
    options: TcpOptions,
}

impl TcpListener {
    /// The endpoint actually bound, with the real address and port (libzmq's
    /// `ZMQ_LAST_ENDPOINT`): `tcp://127.0.0.1:*` becomes e.g. `tcp://127.0.0.1:41234`, and
    /// `tcp://*:5555` becomes `tcp://0.0.0.0:5555` (or `tcp://[::]:5555` with `ipv6`).
    pub fn local_endpoint(&self) -> TcpEndpoint {
        TcpEndpoint::new(Host::Ip(self.local.ip()), Port::Number(self.local.port()))
    }

    /// The socket address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Polls for the next incoming connection, configured like a connected stream.
    ///
    /// An error concerns one connection attempt (or a transient shortage such as `EMFILE`);
    /// the listener stays usable.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let (stream, peer) = std::task::ready!(self.inner.poll_accept(cx))?;
        self.options.configure(&stream)?;
        // As libzmq's listener, on the accepted socket too (what the kernel does not copy
        // from the listener varies by system).
        let socket = SockRef::from(&stream);
        self.options.set_tos(&socket, self.local.is_ipv6())?;
        self.options.set_buffers(&socket)?;
        Poll::Ready(Ok((stream, peer)))
    }

    /// Waits for the next incoming connection; see [`poll_accept`](Self::poll_accept).
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }
}

/// Binds a listener on `endpoint`.
///
/// The host must be `*` or an IP literal: binding to a name is refused with
/// [`Error::BindToHostName`], as in libzmq. Port `*` or `0` picks a free port; read it back
/// with [`TcpListener::local_endpoint`]. `SO_REUSEADDR` is set, as libzmq does.
///
/// Must be called within a Tokio runtime.
pub async fn bind(endpoint: &TcpEndpoint, options: &TcpOptions) -> Result<TcpListener, Error> {
    let ip = match &endpoint.host {
        Host::Any if options.ipv6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        Host::Any => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Host::Ip(ip) => *ip,
        Host::Name(name) => return Err(Error::BindToHostName { host: name.clone() }),
    };
    let addr = SocketAddr::new(ip, endpoint.port.number());
    let listener =
        listen(addr, options).map_err(|e| Error::bind(&format!("tcp://{endpoint}"), e))?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::io(&format!("tcp://{endpoint}"), e))?;
    debug!(endpoint = %format_args!("tcp://{endpoint}"), %local, "tcp listener bound");
    Ok(TcpListener {
        inner: listener,
        local,
        options: options.clone(),
    })
}

fn listen(addr: SocketAddr, options: &TcpOptions) -> io::Result<tokio::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(!options.ipv6)?;
    }
    socket.set_reuse_address(true)?;
    options.prepare(SockRef::from(&socket), addr.is_ipv6())?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    let backlog = i32::try_from(options.backlog).unwrap_or(i32::MAX);
    socket.listen(backlog)?;
    tokio::net::TcpListener::from_std(socket.into())
}

/// Connects to `endpoint`, resolving a host name asynchronously.
///
/// Resolved addresses are tried in the resolver's order (IPv4 only unless `options.ipv6`);
/// the first that accepts wins, otherwise the last error is returned. There is no timeout
/// here: wrap the call in `tokio::time::timeout` if the engine wants one.
///
/// Must be called within a Tokio runtime.
pub async fn connect(endpoint: &TcpEndpoint, options: &TcpOptions) -> Result<TcpStream, Error> {
    let label = format!("tcp://{endpoint}");
    let port = match endpoint.port {
        Port::Number(port) if port != 0 => port,
        _ => {
            return Err(Error::WildcardConnect {
                endpoint: label.clone(),
            })
        }
    };
    let candidates: Vec<SocketAddr> = match &endpoint.host {
        Host::Any => {
            return Err(Error::WildcardConnect {
                endpoint: label.clone(),
            })
        }
        Host::Ip(ip) => vec![SocketAddr::new(*ip, port)],
        Host::Name(name) => tokio::net::lookup_host((name.as_str(), port))
            .await
            .map_err(|e| Error::io(&label, e))?
            .filter(|addr| options.ipv6 || addr.is_ipv4())
            .collect(),
    };
    let mut last_error = None;
    for addr in candidates {
        match connect_one(addr, options).await {
            Ok(stream) => {
                options
                    .configure(&stream)
                    .map_err(|e| Error::io(&label, e))?;
                debug!(endpoint = %label, peer = %addr, "tcp connected");
                return Ok(stream);
            }
            Err(e) => {
                debug!(endpoint = %label, peer = %addr, error = %e, "tcp connect failed");
                last_error = Some(e);
            }
        }
    }
    Err(match last_error {
        Some(e) => Error::io(&label, e),
        None => Error::NoAddress { endpoint: label },
    })
}

/// One connection attempt with the options that must be set before `connect`, bounded by
/// `connect_timeout`.
async fn connect_one(addr: SocketAddr, options: &TcpOptions) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv6() {
        tokio::net::TcpSocket::new_v6()?
    } else {
        tokio::net::TcpSocket::new_v4()?
    };
    options.prepare(SockRef::from(&socket), addr.is_ipv6())?;
    match options.connect_timeout {
        None => socket.connect(addr).await,
        Some(limit) => tokio::time::timeout(limit, socket.connect(addr))
            .await
            .unwrap_or_else(|_| {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connect_timeout expired",
                ))
            }),
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn bind_device(socket: &SockRef<'_>, device: &str) -> io::Result<()> {
    socket.bind_device(Some(device.as_bytes()))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn bind_device(_socket: &SockRef<'_>, _device: &str) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "bindtodevice is only available on Linux",
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::Endpoint;

    fn tcp(s: &str) -> TcpEndpoint {
        match s.parse::<Endpoint>().unwrap() {
            Endpoint::Tcp(tcp) => tcp,
            other => panic!("not tcp: {other}"),
        }
    }

    /// Binds, connects, exchanges a byte each way, checks both ends have `TCP_NODELAY`.
    async fn ping(bind_at: &str, options: &TcpOptions) -> TcpEndpoint {
        let listener = bind(&tcp(bind_at), options).await.unwrap();
        let bound = listener.local_endpoint();
        assert_ne!(bound.port, Port::Number(0));
        let (client, server) = tokio::join!(connect(&bound, options), listener.accept());
        let (mut client, (mut server, peer)) = (client.unwrap(), server.unwrap());
        assert_eq!(peer, client.local_addr().unwrap());
        assert!(client.nodelay().unwrap() && server.nodelay().unwrap());
        client.write_all(b"p").await.unwrap();
        assert_eq!(server.read_u8().await.unwrap(), b'p');
        server.write_all(b"q").await.unwrap();
        assert_eq!(client.read_u8().await.unwrap(), b'q');
        bound
    }

    /// A listener on loopback with `options`, and the two ends of a connection to it.
    async fn connected_pair(options: &TcpOptions) -> (TcpListener, TcpStream, TcpStream) {
        let listener = bind(&tcp("tcp://127.0.0.1:*"), options).await.unwrap();
        let bound = listener.local_endpoint();
        let (client, server) = tokio::join!(connect(&bound, options), listener.accept());
        let (client, (server, _)) = (client.unwrap(), server.unwrap());
        (listener, client, server)
    }

    async fn has_ipv6_loopback() -> bool {
        std::net::TcpListener::bind("[::1]:0").is_ok()
    }

    #[tokio::test]
    async fn ephemeral_port_v4_reports_real_endpoint() {
        let options = TcpOptions::default();
        let bound = ping("tcp://127.0.0.1:*", &options).await;
        assert_eq!(bound.host, Host::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        let bound = ping("tcp://127.0.0.1:0", &options).await;
        assert!(bound.to_string().starts_with("127.0.0.1:"));
    }

    #[tokio::test]
    async fn ephemeral_port_v6_loopback() {
        if !has_ipv6_loopback().await {
            eprintln!("skipping: no ::1 on this machine");
            return;
        }
        let bound = ping("tcp://[::1]:*", &TcpOptions::default()).await;
        assert_eq!(bound.host, Host::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert!(Endpoint::Tcp(bound).to_string().starts_with("tcp://[::1]:"));
    }

    #[tokio::test]
    async fn wildcard_host_binds_v4_by_default_and_dual_stack_with_ipv6() {
        let v4_only = bind(&tcp("tcp://*:*"), &TcpOptions::default())
            .await
            .unwrap();
        assert_eq!(v4_only.local_addr().ip(), IpAddr::V4(Ipv4Addr::UNSPECIFIED));

        if !has_ipv6_loopback().await {
            eprintln!("skipping the dual-stack half: no ::1 on this machine");
            return;
        }
        let options = TcpOptions {
            ipv6: true,
            ..TcpOptions::default()
        };
        let dual = bind(&tcp("tcp://*:*"), &options).await.unwrap();
        assert_eq!(dual.local_addr().ip(), IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        let port = dual.local_addr().port();
        // An IPv4 client reaches the dual-stack listener.
        let v4 = TcpEndpoint::new(
            Host::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            Port::Number(port),
        );
        let (client, server) = tokio::join!(connect(&v4, &options), dual.accept());
        client.unwrap();
        server.unwrap();
    }

    #[tokio::test]
    async fn connect_resolves_names() {
        let listener = bind(&tcp("tcp://127.0.0.1:*"), &TcpOptions::default())
            .await
            .unwrap();
        let port = listener.local_addr().port();
        let by_name = TcpEndpoint::new(Host::Name("localhost".into()), Port::Number(port));
        let options = TcpOptions::default();
        let (client, server) = tokio::join!(connect(&by_name, &options), listener.accept());
        client.unwrap();
        server.unwrap();
    }

    #[tokio::test]
    async fn keepalive_options_are_applied() {
        let mut options = TcpOptions::default();
        options.set_zmq_keepalive(1);
        options.keepalive_idle = Some(Duration::from_secs(30));
        options.keepalive_intvl = Some(Duration::from_secs(5));
        options.keepalive_cnt = Some(4);
        let (listener, client, server) = connected_pair(&options).await;
        let bound = listener.local_endpoint();
        for stream in [&client, &server] {
            let socket = SockRef::from(stream);
            assert!(socket.keepalive().unwrap());
            assert_eq!(socket.keepalive_time().unwrap(), Duration::from_secs(30));
            assert_eq!(socket.keepalive_interval().unwrap(), Duration::from_secs(5));
            assert_eq!(socket.keepalive_retries().unwrap(), 4);
        }

        options.set_zmq_keepalive(0);
        let stream = connect(&bound, &options).await.unwrap();
        assert!(!SockRef::from(&stream).keepalive().unwrap());
    }

    #[tokio::test]
    async fn tos_and_buffer_sizes_reach_both_ends() {
        let options = TcpOptions {
            tos: 0x28, // DSCP AF11
            sndbuf: Some(64 * 1024),
            rcvbuf: Some(96 * 1024),
            ..TcpOptions::default()
        };
        let (listener, client, server) = connected_pair(&options).await;
        let bound = listener.local_endpoint();
        for stream in [&client, &server] {
            let socket = SockRef::from(stream);
            assert_eq!(socket.tos().unwrap(), 0x28);
            // Linux doubles what it is given (and grows the buffers no further by itself
            // once they were set).
            assert_eq!(socket.send_buffer_size().unwrap(), 2 * 64 * 1024);
            assert_eq!(socket.recv_buffer_size().unwrap(), 2 * 96 * 1024);
        }

        // The defaults leave the system's.
        let plain = TcpOptions::default();
        let stream = connect(&bound, &plain).await.unwrap();
        assert_eq!(SockRef::from(&stream).tos().unwrap(), 0);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn bindtodevice_binds_both_ends_to_the_device() {
        if Socket::new(Domain::IPV4, Type::STREAM, None)
            .and_then(|s| s.bind_device(Some(b"lo")))
            .is_err()
        {
            eprintln!("skipping: SO_BINDTODEVICE needs CAP_NET_RAW here");
            return;
        }
        let mut options = TcpOptions {
            bindtodevice: Some("lo".into()),
            ..TcpOptions::default()
        };
        let (listener, client, server) = connected_pair(&options).await;
        let bound = listener.local_endpoint();
        for stream in [&client, &server] {
            assert_eq!(
                SockRef::from(stream).device().unwrap().as_deref(),
                Some(&b"lo"[..])
            );
        }
        // A device that does not exist fails the connect (ENODEV), as in libzmq.
        options.bindtodevice = Some("no-such-dev0".into());
        assert!(matches!(
            connect(&bound, &options).await,
            Err(Error::Io { .. })
        ));
    }

    /// Connects to a listener that never accepts until an attempt times out; returns how
    /// many connected first and how the last one failed.
    async fn connect_until_the_queue_is_full(endpoint: &TcpEndpoint) -> (usize, io::ErrorKind) {
        let options = TcpOptions {
            connect_timeout: Some(Duration::from_millis(500)),
            ..TcpOptions::default()
        };
        let mut held = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match connect(endpoint, &options).await {
                    Ok(stream) => held.push(stream), // still room in the accept queue
                    Err(Error::Io { source, .. }) => break (held.len(), source.kind()),
                    Err(e) => panic!("unexpected error: {e}"),
                }
                assert!(held.len() < 1000, "the listen queue never filled");
            }
        })
        .await
        .expect("no connect attempt timed out")
    }

    #[tokio::test]
    async fn connect_timeout_ends_an_attempt_nobody_answers() {
        // A listener that never accepts, with the smallest queue: once its queue is full
        // the kernel drops further SYNs, and a connect waits for an answer that never comes.
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket
            .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
            .unwrap();
        socket.listen(0).unwrap();
        let addr = socket.local_addr().unwrap().as_socket().unwrap();
        let endpoint = TcpEndpoint::new(Host::Ip(addr.ip()), Port::Number(addr.port()));
        let (_, failure) = connect_until_the_queue_is_full(&endpoint).await;
        assert_eq!(failure, io::ErrorKind::TimedOut);
    }

    /// Linux's accept queue holds `backlog + 1` connections; then it drops SYNs.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn backlog_is_the_listen_queue() {
        let options = TcpOptions {
            backlog: 3,
            ..TcpOptions::default()
        };
        let listener = bind(&tcp("tcp://127.0.0.1:*"), &options).await.unwrap();
        let (connected, failure) =
            connect_until_the_queue_is_full(&listener.local_endpoint()).await;
        assert_eq!((connected, failure), (4, io::ErrorKind::TimedOut));
    }

    #[tokio::test]
    async fn bind_errors() {
        let options = TcpOptions::default();
        let first = bind(&tcp("tcp://127.0.0.1:*"), &options).await.unwrap();
        let taken = first.local_endpoint();
        assert!(matches!(
            bind(&taken, &options).await,
            Err(Error::AddrInUse { .. })
        ));
        assert!(matches!(
            bind(&tcp("tcp://localhost:0"), &options).await,
            Err(Error::BindToHostName { host }) if host == "localhost"
        ));
    }

    #[tokio::test]
    async fn connect_errors() {
        let options = TcpOptions::default();
        for wildcard in ["tcp://*:5555", "tcp://127.0.0.1:*", "tcp://127.0.0.1:0"] {
            assert!(
                matches!(
                    connect(&tcp(wildcard), &options).await,
                    Err(Error::WildcardConnect { .. })
                ),
                "{wildcard}"
            );
        }
        // A port nobody listens on: bind one, learn it, close it.
        let closed = bind(&tcp("tcp://127.0.0.1:*"), &options)
            .await
            .unwrap()
            .local_endpoint();
        match connect(&closed, &options).await {
            Err(Error::Io { source, .. }) => {
                assert_eq!(source.kind(), io::ErrorKind::ConnectionRefused)
            }
            other => panic!("expected refused, got {other:?}"),
        }
    }
}
