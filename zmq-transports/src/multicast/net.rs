//! The sockets under a PGM session: UDP for `epgm://`, raw IP protocol 113 for `pgm://`.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use bytes::Bytes;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use super::PgmOptions;
use crate::pgm::{Destination, Nla};

/// IP protocol number of PGM (RFC 3208).
pub(crate) const IPPROTO_PGM: i32 = 113;
/// The largest datagram read (an IPv4 packet can be no larger).
const RECV_BUFFER: usize = 65_536;
/// The kernel receive buffer asked for (`SO_RCVBUF`; the kernel caps it at
/// `net.core.rmem_max`): a receiver's socket absorbs a burst at `rate` while its task is
/// busy, instead of dropping it for NAKs and repairs to make up.
const SOCKET_RECV_BUFFER: usize = 4 << 20;

/// Which encapsulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encapsulation {
    /// `epgm://`: PGM in UDP, to and from the endpoint's port.
    Udp,
    /// `pgm://`: PGM directly in IP (protocol 113).
    Raw,
}

/// Which side of the session; they bind differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Binds the wildcard address at the port: NAKs come unicast to the interface address,
    /// SPMRs to the group.
    Source,
    /// Binds the group address at the port: only the group's traffic arrives, and unicast
    /// NAKs from receivers on this host go to the source's socket, not to ours.
    Receiver,
}

/// One session's socket with what is needed to address its datagrams.
///
/// A raw socket is driven as a Tokio `UdpSocket` too: `recvfrom` and `sendto` work alike on
/// both (a raw socket's datagrams start with the IPv4 header, and its port is ignored).
#[derive(Debug)]
pub(crate) struct Net {
    socket: UdpSocket,
    raw: bool,
    group: Ipv4Addr,
    port: u16,
    hops: u32,
    buf: Vec<u8>,
}

impl Net {
    /// Opens, binds and configures the socket: joined to `group` on the interface whose
    /// IPv4 address is `interface`, multicast sent through it with `multicast_hops` and
    /// looped back to this host when `loopback` is on.
    pub(crate) fn open(
        encapsulation: Encapsulation,
        role: Role,
        interface: Ipv4Addr,
        group: Ipv4Addr,
        port: u16,
        options: &PgmOptions,
    ) -> io::Result<Net> {
        let raw = encapsulation == Encapsulation::Raw;
        let socket = if raw {
            Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(IPPROTO_PGM)))?
        } else {
            Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?
        };
        socket.set_nonblocking(true)?;
        socket.set_reuse_address(true)?;
        if let Err(e) = socket.set_recv_buffer_size(SOCKET_RECV_BUFFER) {
            tracing::debug!(error = %e, "PGM socket keeps the default receive buffer");
        }
        // Only the groups this socket joined, not every group some socket of the host joined.
        socket.set_multicast_all_v4(false)?;
        socket.join_multicast_v4(&group, &interface)?;
        socket.set_multicast_if_v4(&interface)?;
        socket.set_multicast_ttl_v4(options.multicast_hops)?;
        socket.set_multicast_loop_v4(options.loopback)?;
        if !raw {
            let local = match role {
                Role::Source => Ipv4Addr::UNSPECIFIED,
                Role::Receiver => group,
            };
            socket.bind(&SocketAddr::from(SocketAddrV4::new(local, port)).into())?;
        }
        Ok(Net {
            socket: UdpSocket::from_std(socket.into())?,
            raw,
            group,
            port,
            hops: options.multicast_hops,
            buf: vec![0; RECV_BUFFER],
        })
    }

    /// The next PGM packet for this session's group or this host, with the unicast address
    /// it came from. Raw sockets see every PGM packet of the host: those to other groups
    /// are skipped here (other ports are the core's to skip).
    pub(crate) async fn recv(&mut self) -> io::Result<(Bytes, Nla)> {
        loop {
            let (n, from) = self.socket.recv_from(&mut self.buf).await?;
            let datagram = &self.buf[..n];
            if self.raw {
                if let Some((packet, from)) = strip_ipv4(datagram, self.group) {
                    return Ok((Bytes::copy_from_slice(packet), Nla::V4(from)));
                }
            } else if let SocketAddr::V4(from) = from {
                return Ok((
                    Bytes::copy_from_slice(datagram),
                    Nla::V4(from.ip().octets()),
                ));
            }
        }
    }

    /// Sends one of the core's datagrams where it says.
    pub(crate) async fn send(&self, destination: Destination, datagram: &[u8]) -> io::Result<()> {
        let to = match destination {
            Destination::Group | Destination::GroupLocal => self.group,
            Destination::Unicast(Nla::V4(ip)) => Ipv4Addr::from(ip),
            Destination::Unicast(Nla::V6(_)) => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "PGM over IPv6 is not supported",
                ))
            }
        };
        // An SPMR to the group reaches the other receivers of this link only.
        let local = destination == Destination::GroupLocal && self.hops != 1;
        if local {
            self.socket.set_multicast_ttl_v4(1)?;
        }
        let port = if self.raw { 0 } else { self.port };
        let r = self
            .socket
            .send_to(datagram, SocketAddrV4::new(to, port))
            .await;
        if local {
            self.socket.set_multicast_ttl_v4(self.hops)?;
        }
        r.map(drop)
    }
}

/// The PGM packet inside a raw IPv4 datagram and its source address, if it was sent to
/// `group` or to a unicast address (a NAK); `None` for other groups and malformed headers.
fn strip_ipv4(datagram: &[u8], group: Ipv4Addr) -> Option<(&[u8], [u8; 4])> {
    let first = *datagram.first()?;
    let header_len = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || header_len < 20 || datagram.len() < header_len {
        return None;
    }
    let from: [u8; 4] = datagram[12..16].try_into().ok()?;
    let to = Ipv4Addr::from(<[u8; 4]>::try_from(&datagram[16..20]).ok()?);
    if to.is_multicast() && to != group {
        return None;
    }
    Some((&datagram[header_len..], from))
}

/// The IPv4 address of an interface given as one of its addresses or by name (then its first
/// IPv4 address), from `getifaddrs` in the calling thread's network namespace; `None` when no
/// interface has that name or address.
pub(crate) fn interface_v4(interface: &str) -> io::Result<Option<Ipv4Addr>> {
    let address = interface.parse::<Ipv4Addr>().ok();
    let found = nix::ifaddrs::getifaddrs()
        .map_err(io::Error::from)?
        .filter_map(|ifa| {
            let ip = ifa.address?.as_sockaddr_in()?.ip();
            let wanted = match address {
                Some(a) => a == ip,
                None => ifa.interface_name == interface,
            };
            wanted.then_some(ip)
        })
        .next();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_datagrams_for_other_groups_are_skipped() {
        let group = Ipv4Addr::new(239, 1, 2, 3);
        let mut d = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 1, 113, 0, 0, 10, 0, 0, 1];
        d.extend_from_slice(&group.octets());
        d.extend_from_slice(b"pgm");
        assert_eq!(strip_ipv4(&d, group), Some((&b"pgm"[..], [10, 0, 0, 1])));
        assert_eq!(strip_ipv4(&d, Ipv4Addr::new(239, 1, 2, 4)), None);
        d[16..20].copy_from_slice(&[10, 0, 0, 2]);
        assert_eq!(strip_ipv4(&d, group), Some((&b"pgm"[..], [10, 0, 0, 1])));
        assert_eq!(strip_ipv4(&d[..19], group), None);
        assert_eq!(strip_ipv4(&[0x46, 0, 0], group), None);
        assert_eq!(strip_ipv4(&[], group), None);
    }

    #[test]
    fn unknown_interfaces() {
        // 192.0.2.0/24 is reserved for documentation: no interface has it.
        for bad in ["", "no-such-if0", "../x", "..", "a/b", "192.0.2.1"] {
            assert_eq!(interface_v4(bad).ok().flatten(), None, "{bad:?}");
        }
    }
}
