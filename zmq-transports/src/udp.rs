//! `udp://` for RADIO and DISH (RFC 48): each message one datagram, as libzmq 4.3's
//! `udp_engine` writes it: the group's length (one byte), the group, the body.
//!
//! A RADIO sends with a [`UdpSender`] (unicast, or multicast through an interface); a DISH
//! receives with a [`UdpReceiver`] bound on the address (with the multicast group joined
//! when the endpoint names one). There is no connection and no handshake: every datagram
//! to the address arrives, and the DISH filters by the groups it joined. A datagram that
//! does not parse ([`decode`]) is dropped by the caller, never delivered in part.
//!
//! ```
//! use zmq_transports::udp::{UdpReceiver, UdpSender};
//! use zmq_transports::Endpoint;
//! use zmtp_codec::Message;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut dish = UdpReceiver::open(&"udp://127.0.0.1:*".parse()?).await?;
//! let bound: Endpoint = dish.local_endpoint(); // udp://127.0.0.1:<port>
//! let radio = UdpSender::open(&bound, 1).await?;
//! radio.send(&Message::from("hello").in_group("g")?).await?;
//! let msg = dish.recv().await?.expect("a well-formed datagram");
//! assert_eq!((&msg[0][..], msg.group()), (&b"hello"[..], Some(&b"g"[..])));
//! # Ok(())
//! # }
//! ```

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::{BufMut, Bytes, BytesMut};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use zmtp_codec::{Group, Message};

use crate::endpoint::{Host, Port, UdpEndpoint};
use crate::multicast::net::interface_v4;
use crate::{Endpoint, Error};

/// The largest datagram libzmq 4.3 sends or reads (its `MAX_UDP_MSG`): a RADIO refuses to
/// send a message that would make a longer one.
pub const MAX_DATAGRAM: usize = 8192;

/// The most a receiver reads of one datagram (UDP's own limit); longer ones cannot exist.
const RECV_BUFFER: usize = 65_536;

/// Why a datagram is not an RFC 48 message, or a message cannot be one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DatagramError {
    /// An empty datagram: not even the group's length.
    #[error("empty datagram")]
    Empty,
    /// The group runs past the end of the datagram.
    #[error("group runs past the end of the datagram")]
    Truncated,
    /// A message to send has no group, or more than one frame.
    #[error("a RADIO message is one frame with a group")]
    NotRadioMessage,
    /// A message to send would make a datagram over [`MAX_DATAGRAM`] bytes.
    #[error("datagram of {0} bytes (libzmq reads at most 8192)")]
    TooLarge(usize),
}

/// Writes `msg` (one frame, with a group) as a datagram into `out`.
pub fn encode(msg: &Message, out: &mut BytesMut) -> Result<(), DatagramError> {
    let (Some(group), [body]) = (msg.group(), msg.frames()) else {
        return Err(DatagramError::NotRadioMessage);
    };
    let size = 1 + group.len() + body.len();
    if size > MAX_DATAGRAM {
        return Err(DatagramError::TooLarge(size));
    }
    out.reserve(size);
    out.put_u8(group.len() as u8);
    out.put_slice(group);
    out.put_slice(body);
    Ok(())
}

/// Reads a datagram: a one-frame message (the body sliced out of `datagram`, not copied)
/// in its group.
pub fn decode(datagram: &Bytes) -> Result<Message, DatagramError> {
    let (&len, rest) = datagram.split_first().ok_or(DatagramError::Empty)?;
    let len = usize::from(len);
    let name = rest.get(..len).ok_or(DatagramError::Truncated)?;
    // A length byte never says more than MAX_GROUP_LEN.
    let group = Group::new(name).map_err(|_| DatagramError::Truncated)?;
    let mut msg = Message::from(datagram.slice(1 + len..));
    msg.set_group_to(Some(group));
    Ok(msg)
}

/// A RADIO's side: sends datagrams to one address (unicast, or a multicast group).
#[derive(Debug)]
pub struct UdpSender {
    socket: UdpSocket,
    to: SocketAddr,
    buf: std::sync::Mutex<BytesMut>,
}

impl UdpSender {
    /// Opens a socket that sends to `endpoint` (`udp://host:port`, or
    /// `udp://interface;group:port` to send multicast through that interface), multicast
    /// with `multicast_hops` as TTL and looped back to this host (as libzmq's default).
    pub async fn open(endpoint: &Endpoint, multicast_hops: u32) -> Result<UdpSender, Error> {
        let text = endpoint.to_string();
        let udp = udp_endpoint(endpoint)?;
        let port = match udp.port {
            Port::Number(n) if n != 0 => n,
            _ => return Err(Error::WildcardConnect { endpoint: text }),
        };
        let ip = match &udp.host {
            Host::Any => return Err(Error::WildcardConnect { endpoint: text }),
            Host::Ip(ip) => *ip,
            Host::Name(name) => tokio::net::lookup_host((name.as_str(), port))
                .await
                .map_err(|e| Error::io(&text, e))?
                .next()
                .ok_or(Error::NoAddress {
                    endpoint: text.clone(),
                })?
                .ip(),
        };
        let to = SocketAddr::new(ip, port);
        let socket = new_socket(ip.is_ipv6()).map_err(|e| Error::io(&text, e))?;
        let any = match ip {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        socket
            .bind(&SocketAddr::new(any, 0).into())
            .map_err(|e| Error::io(&text, e))?;
        if let IpAddr::V4(group) = ip {
            if group.is_multicast() {
                let set = || -> io::Result<()> {
                    socket.set_multicast_loop_v4(true)?;
                    socket.set_multicast_ttl_v4(multicast_hops)?;
                    if let Some(interface) = interface(&text, udp.interface.as_deref())? {
                        socket.set_multicast_if_v4(&interface)?;
                    }
                    Ok(())
                };
                set().map_err(|e| Error::io(&text, e))?;
            }
        }
        let socket = UdpSocket::from_std(socket.into()).map_err(|e| Error::io(&text, e))?;
        Ok(UdpSender {
            socket,
            to,
            buf: std::sync::Mutex::new(BytesMut::new()),
        })
    }

    /// The address datagrams go to.
    pub fn destination(&self) -> SocketAddr {
        self.to
    }

    /// Sends `msg` (one frame, with a group) as one datagram. A message that cannot be one
    /// is an [`io::ErrorKind::InvalidInput`] error carrying the [`DatagramError`].
    pub async fn send(&self, msg: &Message) -> io::Result<()> {
        let datagram = {
            let mut buf = self.buf.lock().unwrap_or_else(|e| e.into_inner());
            buf.clear();
            encode(msg, &mut buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            buf.split().freeze()
        };
        self.socket.send_to(&datagram, self.to).await.map(drop)
    }
}

/// A DISH's side: a socket bound on the endpoint's address, and the multicast group joined
/// when it names one.
#[derive(Debug)]
pub struct UdpReceiver {
    socket: UdpSocket,
    local: Endpoint,
    buf: Vec<u8>,
}

impl UdpReceiver {
    /// Binds `endpoint`: `udp://*:port`, `udp://<ip or interface name>:port`, or a
    /// multicast group (`udp://group:port` on any interface, `udp://interface;group:port`
    /// on that one), as libzmq's DISH does: reusable address, and for a group, any
    /// address and the group joined. Port `*` or `0` takes one from the system.
    pub async fn open(endpoint: &Endpoint) -> Result<UdpReceiver, Error> {
        let text = endpoint.to_string();
        let udp = udp_endpoint(endpoint)?;
        let port = udp.port.number();
        let (bind_ip, group) = match &udp.host {
            Host::Any => (IpAddr::V4(Ipv4Addr::UNSPECIFIED), None),
            Host::Ip(IpAddr::V4(g)) if g.is_multicast() => {
                (IpAddr::V4(Ipv4Addr::UNSPECIFIED), Some(*g))
            }
            Host::Ip(ip) if ip.is_multicast() => {
                return Err(Error::Unsupported {
                    endpoint: text,
                    transport: "udp (IPv6 multicast)",
                })
            }
            Host::Ip(ip) => (*ip, None),
            // libzmq binds a DISH on an interface given by name.
            Host::Name(name) => match interface_v4(name).map_err(|e| Error::io(&text, e))? {
                Some(ip) => (IpAddr::V4(ip), None),
                None => return Err(Error::BindToHostName { host: name.clone() }),
            },
        };
        let socket = new_socket(bind_ip.is_ipv6()).map_err(|e| Error::io(&text, e))?;
        let setup = || -> io::Result<()> {
            socket.set_reuse_address(true)?;
            if group.is_some() {
                // Every socket on the group's port gets every datagram.
                socket.set_reuse_port(true)?;
            }
            Ok(())
        };
        setup().map_err(|e| Error::io(&text, e))?;
        socket
            .bind(&SocketAddr::new(bind_ip, port).into())
            .map_err(|e| Error::bind(&text, e))?;
        if let Some(group) = group {
            let join = || -> io::Result<()> {
                let interface = interface(&text, udp.interface.as_deref())?;
                // Only the groups this socket joined.
                socket.set_multicast_all_v4(false)?;
                socket.join_multicast_v4(&group, &interface.unwrap_or(Ipv4Addr::UNSPECIFIED))
            };
            join().map_err(|e| Error::io(&text, e))?;
        }
        let socket = UdpSocket::from_std(socket.into()).map_err(|e| Error::io(&text, e))?;
        let bound = socket.local_addr().map_err(|e| Error::io(&text, e))?;
        let local = Endpoint::Udp(UdpEndpoint {
            interface: udp.interface.clone(),
            host: udp.host.clone(),
            port: Port::Number(bound.port()),
        });
        Ok(UdpReceiver {
            socket,
            local,
            buf: vec![0; RECV_BUFFER],
        })
    }

    /// The endpoint bound, with the port the system gave for `*` or `0`.
    pub fn local_endpoint(&self) -> Endpoint {
        self.local.clone()
    }

    /// The next datagram: a message in its group, or why it is not one (the caller drops
    /// it). An `Err` is the socket's own failure.
    ///
    /// Cancel-safe: a datagram is taken only by the call that returns it.
    pub async fn recv(&mut self) -> io::Result<Result<Message, DatagramError>> {
        let n = self.socket.recv_from(&mut self.buf).await?.0;
        // Copied: the buffer is read into again, and a datagram is at most 64 KiB.
        let datagram = Bytes::copy_from_slice(&self.buf[..n]);
        Ok(decode(&datagram))
    }
}

fn udp_endpoint(endpoint: &Endpoint) -> Result<&UdpEndpoint, Error> {
    match endpoint {
        Endpoint::Udp(udp) => Ok(udp),
        other => Err(Error::Unsupported {
            endpoint: other.to_string(),
            transport: other.scheme(),
        }),
    }
}

fn new_socket(v6: bool) -> io::Result<Socket> {
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// The IPv4 address of a multicast endpoint's `interface;` (`None` for none, or `*`).
fn interface(endpoint: &str, interface: Option<&str>) -> io::Result<Option<Ipv4Addr>> {
    match interface {
        None | Some("*") => Ok(None),
        Some(name) => match interface_v4(name)? {
            Some(ip) => Ok(Some(ip)),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{endpoint}: no interface {name:?} with an IPv4 address"),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_as_libzmq_writes_them() {
        let msg = Message::from("body").in_group("news").unwrap();
        let mut out = BytesMut::new();
        encode(&msg, &mut out).unwrap();
        assert_eq!(&out[..], b"\x04newsbody");
        let back = decode(&out.freeze()).unwrap();
        assert_eq!((back.frames(), back.group()), (msg.frames(), msg.group()));
        // Groups up to 255 bytes (libzmq 4.3.5's limit; its own reader takes the length
        // byte as signed, and so fails from 128 on).
        let mut long = vec![255u8];
        long.extend([b'g'; 255]);
        long.extend(b"body");
        let m = decode(&Bytes::from(long)).unwrap();
        assert_eq!(
            (m.group().map(<[u8]>::len), &m[0][..]),
            (Some(255), &b"body"[..])
        );
        let empty = decode(&Bytes::from_static(b"\x00")).unwrap();
        assert_eq!((&empty[0][..], empty.group()), (&b""[..], Some(&b""[..])));
    }

    #[test]
    fn bad_datagrams_are_refused_not_read() {
        let bad: [(&[u8], DatagramError); 4] = [
            (b"", DatagramError::Empty),
            (b"\x10", DatagramError::Truncated),
            (b"\xffabc", DatagramError::Truncated),
            (b"\x05abc", DatagramError::Truncated),
        ];
        for (datagram, why) in bad {
            assert_eq!(decode(&Bytes::from_static(datagram)).unwrap_err(), why);
        }
        let mut out = BytesMut::new();
        let no_group = Message::from("x");
        assert_eq!(
            encode(&no_group, &mut out),
            Err(DatagramError::NotRadioMessage)
        );
        let big = Message::from(vec![0u8; MAX_DATAGRAM])
            .in_group("g")
            .unwrap();
        assert_eq!(
            encode(&big, &mut out),
            Err(DatagramError::TooLarge(MAX_DATAGRAM + 2))
        );
        assert!(out.is_empty());
    }

    proptest::proptest! {
        /// Any datagram: refused, or read into a message that writes back to the same bytes.
        #[test]
        fn any_datagram_is_refused_or_round_trips(datagram in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let datagram = Bytes::from(datagram);
            if let Ok(msg) = decode(&datagram) {
                let mut out = BytesMut::new();
                encode(&msg, &mut out).unwrap();
                proptest::prop_assert_eq!(&out[..], &datagram[..]);
            }
        }
    }
}
