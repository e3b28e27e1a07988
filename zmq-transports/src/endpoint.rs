//! Endpoint strings: `transport://address`, parsed into typed values.
//!
//! Parsing is strict ("parse, don't validate"): every accepted string becomes a value whose
//! [`Display`](fmt::Display) form parses back to the same value, and every rejected string gets
//! a [`ParseError`] variant that says what was wrong.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::str::FromStr;

use crate::TransportKind;

/// The longest path (in bytes) a Unix domain socket address can hold on Linux.
///
/// `sun_path` is 108 bytes; a filesystem path needs a terminating NUL, an abstract name needs a
/// leading NUL, so either kind leaves 107 bytes for the name itself.
pub const IPC_MAX_PATH_LEN: usize = 107;

/// A parsed ZeroMQ endpoint such as `tcp://127.0.0.1:5555` or `inproc://workers`.
///
/// ```
/// use zmq_transports::{Endpoint, TransportKind};
///
/// let ep: Endpoint = "tcp://[::1]:5555".parse()?;
/// assert_eq!(ep.kind(), TransportKind::ByteStream);
/// assert_eq!(ep.to_string(), "tcp://[::1]:5555");
/// # Ok::<(), zmq_transports::ParseError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `tcp://host:port`.
    Tcp(TcpEndpoint),
    /// `ipc://path`, `ipc://@abstract` or `ipc://*` (Unix domain sockets).
    Ipc(IpcEndpoint),
    /// `inproc://name`: an in-process rendezvous; the name is never empty.
    Inproc(String),
    /// `pgm://interface;group:port`: PGM over raw IP (protocol 113); see [`crate::multicast`].
    Pgm(PgmEndpoint),
    /// `epgm://interface;group:port`: PGM encapsulated in UDP; see [`crate::multicast`].
    Epgm(PgmEndpoint),
    /// `ws://host:port[/path]`: ZWS 2.0 (RFC 45) over a WebSocket; see [`crate::ws`].
    Ws(WsEndpoint),
    /// `wss://host:port[/path]`: ZWS 2.0 over a WebSocket over TLS.
    Wss(WsEndpoint),
    /// `udp://host:port` or `udp://interface;group:port`: RFC 48's datagrams, for RADIO
    /// and DISH; see [`crate::udp`].
    Udp(UdpEndpoint),
}

impl Endpoint {
    /// Which family of transport carries this endpoint.
    pub fn kind(&self) -> TransportKind {
        match self {
            Endpoint::Tcp(_) | Endpoint::Ipc(_) => TransportKind::ByteStream,
            Endpoint::Inproc(_) => TransportKind::Inproc,
            Endpoint::Pgm(_) | Endpoint::Epgm(_) | Endpoint::Udp(_) => TransportKind::Datagram,
            Endpoint::Ws(_) | Endpoint::Wss(_) => TransportKind::WebSocket,
        }
    }

    /// The scheme as written before `://` (`"tcp"`, `"ipc"`, ...).
    pub fn scheme(&self) -> &'static str {
        match self {
            Endpoint::Tcp(_) => "tcp",
            Endpoint::Ipc(_) => "ipc",
            Endpoint::Inproc(_) => "inproc",
            Endpoint::Pgm(_) => "pgm",
            Endpoint::Epgm(_) => "epgm",
            Endpoint::Ws(_) => "ws",
            Endpoint::Wss(_) => "wss",
            Endpoint::Udp(_) => "udp",
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(tcp) => write!(f, "tcp://{tcp}"),
            Endpoint::Ipc(ipc) => write!(f, "ipc://{ipc}"),
            Endpoint::Inproc(name) => write!(f, "inproc://{name}"),
            Endpoint::Pgm(pgm) => write!(f, "pgm://{pgm}"),
            Endpoint::Epgm(pgm) => write!(f, "epgm://{pgm}"),
            Endpoint::Ws(ws) => write!(f, "ws://{ws}"),
            Endpoint::Wss(ws) => write!(f, "wss://{ws}"),
            Endpoint::Udp(udp) => write!(f, "udp://{udp}"),
        }
    }
}

impl FromStr for Endpoint {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| ParseError::new(s, reason);
        let (scheme, address) = s
            .split_once("://")
            .ok_or_else(|| err(ParseErrorKind::MissingTransport))?;
        match scheme {
            "tcp" => parse_tcp(address).map(Endpoint::Tcp),
            "ipc" => parse_ipc(address).map(Endpoint::Ipc),
            "inproc" if address.is_empty() => Err(ParseErrorKind::EmptyInprocName),
            "inproc" => Ok(Endpoint::Inproc(address.to_owned())),
            "pgm" => parse_pgm(address).map(Endpoint::Pgm),
            "epgm" => parse_pgm(address).map(Endpoint::Epgm),
            "ws" => parse_ws(address).map(Endpoint::Ws),
            "wss" => parse_ws(address).map(Endpoint::Wss),
            "udp" => parse_udp(address).map(Endpoint::Udp),
            other => Err(ParseErrorKind::UnknownTransport(other.to_owned())),
        }
        .map_err(err)
    }
}

impl From<TcpEndpoint> for Endpoint {
    fn from(tcp: TcpEndpoint) -> Self {
        Endpoint::Tcp(tcp)
    }
}

impl From<IpcEndpoint> for Endpoint {
    fn from(ipc: IpcEndpoint) -> Self {
        Endpoint::Ipc(ipc)
    }
}

/// The address part of a `tcp://` endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TcpEndpoint {
    /// Where to bind or what to connect to.
    pub host: Host,
    /// The TCP port, possibly a wildcard.
    pub port: Port,
}

impl TcpEndpoint {
    /// A `tcp://` address from its parts.
    pub fn new(host: Host, port: Port) -> Self {
        TcpEndpoint { host, port }
    }
}

impl fmt::Display for TcpEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// The address part of a `ws://` or `wss://` endpoint: `host:port` as for tcp, then the
/// HTTP path (`/` when none is written).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WsEndpoint {
    /// Where to bind or what to connect to.
    pub tcp: TcpEndpoint,
    /// The request path, starting with `/`. A listener accepts any path (as libzmq's).
    pub path: String,
}

impl fmt::Display for WsEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.tcp, self.path)
    }
}

/// The host part of a `tcp://` endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// `*`: every local interface (bind only).
    Any,
    /// An IPv4 literal, or an IPv6 literal written in brackets (`[::1]`).
    Ip(IpAddr),
    /// A DNS name, resolved when connecting. Binding to a name is refused, as in libzmq
    /// (which only accepts interface names there).
    Name(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Any => f.write_str("*"),
            Host::Ip(IpAddr::V4(v4)) => write!(f, "{v4}"),
            Host::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]"),
            Host::Name(name) => f.write_str(name),
        }
    }
}

/// The port part of a `tcp://` endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Port {
    /// `*`: let the system pick a free port (bind only).
    Any,
    /// A port number. `0` also asks the system for a free port when binding.
    Number(u16),
}

impl Port {
    /// True for `*` and `0`: binding picks a free port.
    pub fn is_ephemeral(self) -> bool {
        matches!(self, Port::Any | Port::Number(0))
    }

    /// The number to hand to the system: `*` becomes `0`.
    pub fn number(self) -> u16 {
        match self {
            Port::Any => 0,
            Port::Number(n) => n,
        }
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Port::Any => f.write_str("*"),
            Port::Number(n) => write!(f, "{n}"),
        }
    }
}

/// The address part of an `ipc://` endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IpcEndpoint {
    /// A filesystem path, absolute (`ipc:///tmp/x`) or relative to the working directory
    /// (`ipc://x`). Built by parsing, it is always valid UTF-8; one built by hand that is not
    /// is displayed lossily.
    Path(PathBuf),
    /// `ipc://@name`: a name in Linux's abstract socket namespace (no file is created).
    Abstract(String),
    /// `ipc://*`: binding picks a fresh, unique path under the temporary directory.
    Any,
}

impl fmt::Display for IpcEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpcEndpoint::Path(path) => write!(f, "{}", path.display()),
            IpcEndpoint::Abstract(name) => write!(f, "@{name}"),
            IpcEndpoint::Any => f.write_str("*"),
        }
    }
}

/// The address part of a `pgm://` or `epgm://` endpoint: `interface;group:port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PgmEndpoint {
    /// The local interface, by name (`eth0`) or address (`192.168.1.2`), kept as written.
    pub interface: String,
    /// The multicast group to join.
    pub group: IpAddr,
    /// The data-destination port (never `0`).
    pub port: u16,
}

impl fmt::Display for PgmEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.group {
            IpAddr::V4(v4) => write!(f, "{};{v4}:{}", self.interface, self.port),
            IpAddr::V6(v6) => write!(f, "{};[{v6}]:{}", self.interface, self.port),
        }
    }
}

/// The address part of a `udp://` endpoint, as libzmq reads it: `host:port`, or
/// `interface;group:port` for multicast.
///
/// A RADIO connects: it sends to `host` (an IP address or a DNS name), a multicast group
/// through `interface` when one is given. A DISH binds: on `host` (`*`, an IP address,
/// or an interface name) or, for a multicast group, on any address with the group joined
/// on `interface` (any interface without one).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UdpEndpoint {
    /// The `interface;` part (multicast only): `*`, an IPv4 address, or an interface name,
    /// kept as written.
    pub interface: Option<String>,
    /// The address to send to or bind on, or the multicast group.
    pub host: Host,
    /// The UDP port, possibly a wildcard (a bind then gets one from the system).
    pub port: Port,
}

impl fmt::Display for UdpEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(interface) = &self.interface {
            write!(f, "{interface};")?;
        }
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Why an endpoint string was rejected: the offending string and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid endpoint {endpoint:?}: {kind}")]
pub struct ParseError {
    endpoint: String,
    kind: ParseErrorKind,
}

impl ParseError {
    fn new(endpoint: &str, kind: ParseErrorKind) -> Self {
        ParseError {
            endpoint: endpoint.to_owned(),
            kind,
        }
    }

    /// The string that failed to parse.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// What was wrong with it.
    pub fn kind(&self) -> &ParseErrorKind {
        &self.kind
    }
}

/// The reason an endpoint string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// No `://` separates a transport from an address.
    #[error("missing transport (expected e.g. tcp://host:port)")]
    MissingTransport,
    /// The transport is not one of tcp, ipc, inproc, pgm, epgm, udp, ws, wss.
    #[error("unknown transport {0:?} (expected tcp, ipc, inproc, pgm, epgm, udp, ws or wss)")]
    UnknownTransport(String),
    /// A `tcp://` address has no `:port`.
    #[error("missing port (expected host:port)")]
    MissingPort,
    /// The port is neither `*` nor a number in 0..=65535 (1..=65535 for pgm).
    #[error("invalid port {0:?}")]
    InvalidPort(String),
    /// The host is empty.
    #[error("missing host")]
    EmptyHost,
    /// The host is neither `*`, an IP literal, nor a plausible DNS name.
    #[error("invalid host {0:?}")]
    InvalidHost(String),
    /// An IPv6 literal was written without brackets.
    #[error("IPv6 address {0:?} must be written in brackets, e.g. [::1]:port")]
    UnbracketedIpv6(String),
    /// libzmq's `tcp://source;destination` form, which this implementation does not support.
    #[error("a source address (tcp://src;dst) is not supported")]
    SourceAddressUnsupported,
    /// `ipc://` with nothing after it.
    #[error("missing ipc path")]
    EmptyIpcPath,
    /// `ipc://@` with no name after the `@`.
    #[error("missing abstract socket name after @")]
    EmptyAbstractName,
    /// The ipc path or abstract name does not fit in a Unix socket address.
    #[error("ipc path is {0} bytes long; at most {IPC_MAX_PATH_LEN} fit in a Unix socket address")]
    IpcPathTooLong(usize),
    /// The ipc path contains a NUL byte.
    #[error("ipc path contains a NUL byte")]
    NulInIpcPath,
    /// `inproc://` with nothing after it.
    #[error("missing inproc name")]
    EmptyInprocName,
    /// A pgm/epgm address has no `interface;` part (or udp an empty one).
    #[error("missing interface (expected interface;group:port)")]
    MissingInterface,
    /// The pgm/epgm group is not an IP address.
    #[error("invalid multicast group {0:?}")]
    InvalidGroup(String),
    /// A ws/wss path holds a space or a control character.
    #[error("invalid ws path {0:?}")]
    InvalidPath(String),
    /// The pgm/epgm group, or a udp address after an `interface;`, is an IP address outside
    /// the multicast ranges; or a udp interface is a multicast address.
    #[error("{0} is not a multicast address")]
    NotMulticast(IpAddr),
}

fn parse_ws(address: &str) -> Result<WsEndpoint, ParseErrorKind> {
    let (host_port, path) = match address.find('/') {
        Some(at) => address.split_at(at),
        None => (address, "/"),
    };
    if path
        .chars()
        .any(|c| c.is_ascii_whitespace() || c.is_ascii_control())
    {
        return Err(ParseErrorKind::InvalidPath(path.to_owned()));
    }
    Ok(WsEndpoint {
        tcp: parse_tcp(host_port)?,
        path: path.to_owned(),
    })
}

fn parse_tcp(address: &str) -> Result<TcpEndpoint, ParseErrorKind> {
    if address.contains(';') {
        return Err(ParseErrorKind::SourceAddressUnsupported);
    }
    let (host, port) = split_host_port(address)?;
    let host = parse_host(host)?;
    let port = match port {
        "*" => Port::Any,
        digits => Port::Number(parse_port_number(digits)?),
    };
    Ok(TcpEndpoint { host, port })
}

/// Splits `host:port`: after the closing bracket of an IPv6 literal, else at the last colon.
fn split_host_port(address: &str) -> Result<(&str, &str), ParseErrorKind> {
    let (host, port) = if address.starts_with('[') {
        let close = address
            .find(']')
            .ok_or_else(|| ParseErrorKind::InvalidHost(address.to_owned()))?;
        let (host, rest) = address.split_at(close + 1);
        match rest.strip_prefix(':') {
            Some(port) => (host, port),
            None if rest.is_empty() => return Err(ParseErrorKind::MissingPort),
            None => return Err(ParseErrorKind::InvalidHost(address.to_owned())),
        }
    } else {
        address
            .rsplit_once(':')
            .ok_or(ParseErrorKind::MissingPort)?
    };
    if port.is_empty() {
        return Err(ParseErrorKind::MissingPort);
    }
    Ok((host, port))
}

fn parse_port_number(digits: &str) -> Result<u16, ParseErrorKind> {
    // `u16::from_str` accepts a leading `+`; a port is digits only.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseErrorKind::InvalidPort(digits.to_owned()));
    }
    digits
        .parse()
        .map_err(|_| ParseErrorKind::InvalidPort(digits.to_owned()))
}

fn parse_host(host: &str) -> Result<Host, ParseErrorKind> {
    if host.is_empty() {
        return Err(ParseErrorKind::EmptyHost);
    }
    if host == "*" {
        return Ok(Host::Any);
    }
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or_else(|| ParseErrorKind::InvalidHost(host.to_owned()))?;
        return inner
            .parse::<Ipv6Addr>()
            .map(|v6| Host::Ip(IpAddr::V6(v6)))
            .map_err(|_| ParseErrorKind::InvalidHost(host.to_owned()));
    }
    if let Ok(v4) = host.parse::<Ipv4Addr>() {
        return Ok(Host::Ip(IpAddr::V4(v4)));
    }
    if host.contains(':') {
        return Err(ParseErrorKind::UnbracketedIpv6(host.to_owned()));
    }
    if is_dns_name(host) {
        Ok(Host::Name(host.to_owned()))
    } else {
        Err(ParseErrorKind::InvalidHost(host.to_owned()))
    }
}

/// A loose DNS-name check: labels of letters, digits, `-` and `_`, separated by single dots.
/// The resolver has the final word; this only rejects what could never resolve.
fn is_dns_name(name: &str) -> bool {
    name.len() <= 253
        && name.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn parse_ipc(address: &str) -> Result<IpcEndpoint, ParseErrorKind> {
    if address.is_empty() {
        return Err(ParseErrorKind::EmptyIpcPath);
    }
    if address.contains('\0') {
        return Err(ParseErrorKind::NulInIpcPath);
    }
    if address.len() > IPC_MAX_PATH_LEN + usize::from(address.starts_with('@')) {
        return Err(ParseErrorKind::IpcPathTooLong(address.len()));
    }
    if address == "*" {
        return Ok(IpcEndpoint::Any);
    }
    match address.strip_prefix('@') {
        Some("") => Err(ParseErrorKind::EmptyAbstractName),
        Some(name) => Ok(IpcEndpoint::Abstract(name.to_owned())),
        None => Ok(IpcEndpoint::Path(PathBuf::from(address))),
    }
}

fn parse_pgm(address: &str) -> Result<PgmEndpoint, ParseErrorKind> {
    let (interface, group_port) = address
        .split_once(';')
        .ok_or(ParseErrorKind::MissingInterface)?;
    if interface.is_empty() {
        return Err(ParseErrorKind::MissingInterface);
    }
    let (group, port) = split_host_port(group_port)?;
    let group = match parse_host(group)? {
        Host::Ip(ip) => ip,
        Host::Any | Host::Name(_) => return Err(ParseErrorKind::InvalidGroup(group.to_owned())),
    };
    if !group.is_multicast() {
        return Err(ParseErrorKind::NotMulticast(group));
    }
    let port = match parse_port_number(port)? {
        0 => return Err(ParseErrorKind::InvalidPort(port.to_owned())),
        n => n,
    };
    Ok(PgmEndpoint {
        interface: interface.to_owned(),
        group,
        port,
    })
}

fn parse_udp(address: &str) -> Result<UdpEndpoint, ParseErrorKind> {
    // libzmq splits at the last `;`.
    let (interface, host_port) = match address.rsplit_once(';') {
        Some(("", _)) => return Err(ParseErrorKind::MissingInterface),
        Some((interface, rest)) => (Some(interface), rest),
        None => (None, address),
    };
    let (host, port) = split_host_port(host_port)?;
    let host = parse_host(host)?;
    let port = match port {
        "*" => Port::Any,
        digits => Port::Number(parse_port_number(digits)?),
    };
    if let Some(interface) = interface {
        // An interface is the source of multicast: the group must be one, it must not.
        if let Ok(ip) = interface.parse::<IpAddr>() {
            if ip.is_multicast() {
                return Err(ParseErrorKind::NotMulticast(ip));
            }
        }
        match host {
            Host::Ip(ip) if ip.is_multicast() => {}
            Host::Ip(ip) => return Err(ParseErrorKind::NotMulticast(ip)),
            Host::Any | Host::Name(_) => {
                return Err(ParseErrorKind::InvalidGroup(host.to_string()))
            }
        }
    }
    Ok(UdpEndpoint {
        interface: interface.map(str::to_owned),
        host,
        port,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parse(s: &str) -> Endpoint {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn reject(s: &str) -> ParseErrorKind {
        match s.parse::<Endpoint>() {
            Ok(ep) => panic!("{s} parsed as {ep:?}"),
            Err(e) => {
                assert_eq!(e.endpoint(), s);
                e.kind().clone()
            }
        }
    }

    fn tcp(host: Host, port: Port) -> Endpoint {
        Endpoint::Tcp(TcpEndpoint::new(host, port))
    }

    #[test]
    fn valid_endpoints_parse_and_round_trip() {
        let v4 = |a, b, c, d| Host::Ip(IpAddr::V4(Ipv4Addr::new(a, b, c, d)));
        let cases: Vec<(&str, Endpoint)> = vec![
            (
                "tcp://127.0.0.1:5555",
                tcp(v4(127, 0, 0, 1), Port::Number(5555)),
            ),
            ("tcp://*:5555", tcp(Host::Any, Port::Number(5555))),
            ("tcp://127.0.0.1:*", tcp(v4(127, 0, 0, 1), Port::Any)),
            ("tcp://127.0.0.1:0", tcp(v4(127, 0, 0, 1), Port::Number(0))),
            ("tcp://*:*", tcp(Host::Any, Port::Any)),
            (
                "tcp://0.0.0.0:65535",
                tcp(v4(0, 0, 0, 0), Port::Number(65535)),
            ),
            (
                "tcp://[::1]:5555",
                tcp(
                    Host::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)),
                    Port::Number(5555),
                ),
            ),
            (
                "tcp://[::]:*",
                tcp(Host::Ip(IpAddr::V6(Ipv6Addr::UNSPECIFIED)), Port::Any),
            ),
            (
                "tcp://[fe80::1:2]:1",
                tcp(
                    Host::Ip(IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 1, 2))),
                    Port::Number(1),
                ),
            ),
            (
                "tcp://localhost:80",
                tcp(Host::Name("localhost".into()), Port::Number(80)),
            ),
            (
                "tcp://broker-1.example.com:9000",
                tcp(
                    Host::Name("broker-1.example.com".into()),
                    Port::Number(9000),
                ),
            ),
            (
                "ipc:///tmp/feeds/0",
                Endpoint::Ipc(IpcEndpoint::Path("/tmp/feeds/0".into())),
            ),
            (
                "ipc://relative.sock",
                Endpoint::Ipc(IpcEndpoint::Path("relative.sock".into())),
            ),
            (
                "ipc://@zmq-abstract",
                Endpoint::Ipc(IpcEndpoint::Abstract("zmq-abstract".into())),
            ),
            ("ipc://*", Endpoint::Ipc(IpcEndpoint::Any)),
            ("inproc://workers", Endpoint::Inproc("workers".into())),
            // inproc names are opaque: anything non-empty goes.
            ("inproc://a:b/c;*", Endpoint::Inproc("a:b/c;*".into())),
            (
                "pgm://eth0;239.192.1.1:5555",
                Endpoint::Pgm(PgmEndpoint {
                    interface: "eth0".into(),
                    group: IpAddr::V4(Ipv4Addr::new(239, 192, 1, 1)),
                    port: 5555,
                }),
            ),
            (
                "epgm://192.168.1.2;239.192.1.1:5555",
                Endpoint::Epgm(PgmEndpoint {
                    interface: "192.168.1.2".into(),
                    group: IpAddr::V4(Ipv4Addr::new(239, 192, 1, 1)),
                    port: 5555,
                }),
            ),
            (
                "epgm://eth0;[ff02::1]:7000",
                Endpoint::Epgm(PgmEndpoint {
                    interface: "eth0".into(),
                    group: IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1)),
                    port: 7000,
                }),
            ),
        ];
        for (input, expected) in cases {
            let parsed = parse(input);
            assert_eq!(parsed, expected, "{input}");
            assert_eq!(parsed.to_string(), input, "Display must round-trip");
            assert_eq!(parse(&parsed.to_string()), parsed);
        }
    }

    #[test]
    fn non_canonical_input_normalises_and_still_round_trips() {
        let ep = parse("tcp://[0:0::1]:05555");
        assert_eq!(ep.to_string(), "tcp://[::1]:5555");
        assert_eq!(parse(&ep.to_string()), ep);
    }

    #[test]
    fn invalid_endpoints_are_rejected_with_a_reason() {
        use ParseErrorKind as K;
        let long = format!("ipc:///{}", "x".repeat(IPC_MAX_PATH_LEN));
        let long_abstract = format!("ipc://@{}", "x".repeat(IPC_MAX_PATH_LEN + 1));
        let cases: Vec<(&str, K)> = vec![
            ("", K::MissingTransport),
            ("127.0.0.1:5555", K::MissingTransport),
            ("tcp:/127.0.0.1:5555", K::MissingTransport),
            ("vmci://1:5555", K::UnknownTransport("vmci".into())),
            ("TCP://127.0.0.1:5555", K::UnknownTransport("TCP".into())),
            ("tcp://", K::MissingPort),
            ("tcp://127.0.0.1", K::MissingPort),
            ("tcp://127.0.0.1:", K::MissingPort),
            ("tcp://[::1]", K::MissingPort),
            ("tcp://:5555", K::EmptyHost),
            ("tcp://127.0.0.1:65536", K::InvalidPort("65536".into())),
            ("tcp://127.0.0.1:-1", K::InvalidPort("-1".into())),
            ("tcp://127.0.0.1:+5", K::InvalidPort("+5".into())),
            ("tcp://127.0.0.1:http", K::InvalidPort("http".into())),
            ("tcp://127.0.0.1:**", K::InvalidPort("**".into())),
            ("tcp://::1:5555", K::UnbracketedIpv6("::1".into())),
            ("tcp://[::1:5555", K::InvalidHost("[::1:5555".into())),
            (
                "tcp://[127.0.0.1]:5555",
                K::InvalidHost("[127.0.0.1]".into()),
            ),
            ("tcp://[nope]:5555", K::InvalidHost("[nope]".into())),
            ("tcp://[::1]x:5555", K::InvalidHost("[::1]x:5555".into())),
            ("tcp://host name:5555", K::InvalidHost("host name".into())),
            ("tcp://a..b:5555", K::InvalidHost("a..b".into())),
            ("tcp://a/b:5555", K::InvalidHost("a/b".into())),
            ("tcp://**:5555", K::InvalidHost("**".into())),
            (
                "tcp://10.0.0.1:0;10.0.0.2:5555",
                K::SourceAddressUnsupported,
            ),
            ("tcp://eth0;192.168.1.1:5555", K::SourceAddressUnsupported),
            ("ipc://", K::EmptyIpcPath),
            ("ipc://@", K::EmptyAbstractName),
            ("ipc:///tmp/a\0b", K::NulInIpcPath),
            (&long, K::IpcPathTooLong(IPC_MAX_PATH_LEN + 1)),
            (&long_abstract, K::IpcPathTooLong(IPC_MAX_PATH_LEN + 2)),
            ("inproc://", K::EmptyInprocName),
            ("pgm://239.192.1.1:5555", K::MissingInterface),
            ("pgm://;239.192.1.1:5555", K::MissingInterface),
            ("epgm://eth0;239.192.1.1", K::MissingPort),
            ("epgm://eth0;239.192.1.1:0", K::InvalidPort("0".into())),
            ("epgm://eth0;239.192.1.1:*", K::InvalidPort("*".into())),
            (
                "epgm://eth0;group.example:5555",
                K::InvalidGroup("group.example".into()),
            ),
            ("epgm://eth0;*:5555", K::InvalidGroup("*".into())),
            (
                "epgm://eth0;10.0.0.1:5555",
                K::NotMulticast(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(reject(input), expected, "{input:?}");
        }
    }

    #[test]
    fn longest_ipc_paths_still_parse() {
        let path = format!("ipc:///{}", "x".repeat(IPC_MAX_PATH_LEN - 1));
        assert!(matches!(parse(&path), Endpoint::Ipc(IpcEndpoint::Path(_))));
        let name = format!("ipc://@{}", "x".repeat(IPC_MAX_PATH_LEN));
        assert!(matches!(
            parse(&name),
            Endpoint::Ipc(IpcEndpoint::Abstract(_))
        ));
    }

    #[test]
    fn error_messages_name_the_endpoint_and_the_reason() {
        let err = "tcp://127.0.0.1".parse::<Endpoint>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid endpoint \"tcp://127.0.0.1\": missing port (expected host:port)"
        );
    }

    #[test]
    fn kinds_separate_streams_inproc_and_datagrams() {
        assert_eq!(parse("tcp://*:1").kind(), TransportKind::ByteStream);
        assert_eq!(parse("ipc://*").kind(), TransportKind::ByteStream);
        assert_eq!(parse("inproc://x").kind(), TransportKind::Inproc);
        assert_eq!(parse("pgm://e;239.0.0.1:1").kind(), TransportKind::Datagram);
        assert_eq!(
            parse("epgm://e;239.0.0.1:1").kind(),
            TransportKind::Datagram
        );
    }

    #[test]
    fn udp_endpoints_as_libzmq_reads_them() {
        let v4 = |s: &str| Host::Ip(s.parse().unwrap());
        let udp = |interface: Option<&str>, host, port| {
            Endpoint::Udp(UdpEndpoint {
                interface: interface.map(str::to_owned),
                host,
                port,
            })
        };
        let cases = [
            (
                "udp://127.0.0.1:5555",
                udp(None, v4("127.0.0.1"), Port::Number(5555)),
            ),
            ("udp://*:5555", udp(None, Host::Any, Port::Number(5555))),
            ("udp://*:*", udp(None, Host::Any, Port::Any)),
            (
                "udp://radio.example:9",
                udp(None, Host::Name("radio.example".into()), Port::Number(9)),
            ),
            (
                "udp://239.0.0.1:5555",
                udp(None, v4("239.0.0.1"), Port::Number(5555)),
            ),
            (
                "udp://10.0.0.1;239.0.0.1:5555",
                udp(Some("10.0.0.1"), v4("239.0.0.1"), Port::Number(5555)),
            ),
            (
                "udp://eth0;239.0.0.1:5555",
                udp(Some("eth0"), v4("239.0.0.1"), Port::Number(5555)),
            ),
            (
                "udp://*;239.0.0.1:5555",
                udp(Some("*"), v4("239.0.0.1"), Port::Number(5555)),
            ),
        ];
        for (input, expected) in cases {
            let ep = parse(input);
            assert_eq!(ep, expected, "{input}");
            assert_eq!(ep.to_string(), input);
            assert_eq!(ep.kind(), TransportKind::Datagram);
        }
        type K = ParseErrorKind;
        let bad = [
            ("udp://127.0.0.1", K::MissingPort),
            ("udp://;239.0.0.1:5555", K::MissingInterface),
            (
                "udp://eth0;10.0.0.1:5555",
                K::NotMulticast("10.0.0.1".parse().unwrap()),
            ),
            ("udp://eth0;*:5555", K::InvalidGroup("*".into())),
            (
                "udp://239.0.0.2;239.0.0.1:5555",
                K::NotMulticast("239.0.0.2".parse().unwrap()),
            ),
            ("udp://*:70000", K::InvalidPort("70000".into())),
        ];
        for (input, expected) in bad {
            assert_eq!(reject(input), expected, "{input}");
        }
    }

    #[test]
    fn port_helpers() {
        assert!(Port::Any.is_ephemeral());
        assert!(Port::Number(0).is_ephemeral());
        assert!(!Port::Number(1).is_ephemeral());
        assert_eq!(Port::Any.number(), 0);
    }
}

#[cfg(test)]
mod ws_tests {
    use super::*;

    #[test]
    fn ws_endpoints_parse_with_their_path() {
        let ep: Endpoint = "ws://127.0.0.1:5555/zeromq"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let Endpoint::Ws(ws) = &ep else {
            panic!("{ep:?}")
        };
        assert_eq!(ws.path, "/zeromq");
        assert_eq!(ws.tcp.port, Port::Number(5555));
        assert_eq!(ep.to_string(), "ws://127.0.0.1:5555/zeromq");
        // No path is `/`, as libzmq's last endpoint writes it.
        let ep: Endpoint = "wss://*:0".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ep.to_string(), "wss://*:0/");
        assert_eq!(ep.kind(), TransportKind::WebSocket);
        let ep: Endpoint = "ws://[::1]:80/a/b"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ep.to_string(), "ws://[::1]:80/a/b");
        assert!("ws://host/x".parse::<Endpoint>().is_err());
        assert!("ws://h:1/a b".parse::<Endpoint>().is_err());
    }
}
