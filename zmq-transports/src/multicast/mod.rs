//! The Tokio driver of the PGM core: `epgm://` (PGM in UDP) and `pgm://` (raw IP protocol
//! 113) sessions that send and receive whole ZeroMQ messages.
//!
//! - [`PgmSender`] runs a [`Source`](crate::pgm::Source): messages are packed into TSDUs as
//!   libzmq packs them ([`framing::Encoder`](crate::pgm::framing::Encoder)), sent as ODATA
//!   within `rate`, and repaired (NCF + RDATA) on NAKs while they are in the window.
//! - [`PgmReceiver`] runs a [`Receiver`](crate::pgm::Receiver): it NAKs what is missing and
//!   yields each source's messages in order ([`Delivery::Message`]), or reports what could
//!   not be repaired ([`Delivery::Loss`]) and goes on from the next message boundary.
//!
//! Each runs as a task of its own, which owns the socket and the timers (time is read with
//! [`Instant::now`] after every wake-up, as the core expects). The handles talk to it
//! through bounded channels: [`PgmOptions::send_hwm`] messages waiting to be sent,
//! [`PgmOptions::recv_hwm`] deliveries waiting to be read (beyond that, data waits in the
//! receive window and the socket is still read, so repairs go on).
//!
//! Sockets, as OpenPGM sets them up for libzmq: the endpoint's interface (by IPv4 address,
//! or by name: its address is then the one the kernel uses for multicast through it) is
//! the one the group is joined on (`IP_ADD_MEMBERSHIP`) and multicast leaves by
//! (`IP_MULTICAST_IF`), with `multicast_hops` as TTL and loopback on, so publishers and
//! subscribers on one host hear each other. A sender's socket binds `0.0.0.0:<port>` (NAKs
//! come unicast to the interface address at the endpoint's port, SPMRs to the group); a
//! receiver's binds `<group>:<port>`. `pgm://` needs raw sockets (`CAP_NET_RAW`, or root);
//! without them [`Error::RawSocketDenied`] says so.
//!
//! Limits: IPv4 only. Unicast NAKs from a receiver to a sender on the same host reach it
//! only while the host has one sender socket on that port (several would share the unicast
//! traffic, as with OpenPGM).
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use zmq_transports::multicast::{Delivery, PgmOptions, PgmReceiver, PgmSender};
//! use zmtp_codec::Message;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let endpoint = "epgm://lo;239.192.1.1:5555".parse()?;
//! let options = PgmOptions::default();
//! let mut receiver = PgmReceiver::open(&endpoint, &options).await?;
//! let sender = PgmSender::open(&endpoint, &options).await?;
//! sender.send(Message::from("hello")).await?;
//! match receiver.recv().await? {
//!     Delivery::Message { message, .. } => assert_eq!(message, Message::from("hello")),
//!     other => println!("{other:?}"),
//! }
//! sender.close(Duration::from_secs(1)).await?;
//! # Ok(())
//! # }
//! ```

pub(crate) mod net;
mod receiver;
mod sender;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

pub use receiver::{Delivery, MalformedPackets, PgmReceiver};
pub use sender::{PgmSender, TrySendError};

use crate::endpoint::{Endpoint, PgmEndpoint};
use crate::pgm::{self, EPGM_V4_OVERHEAD};
use crate::Error;
use net::Encapsulation;

/// The options of a PGM session, libzmq's socket options by their names.
/// [`PgmOptions::default`] gives libzmq's defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PgmOptions {
    /// `ZMQ_RATE`: the sender's ODATA limit in kbit/s, IP and UDP headers counted; it also
    /// sizes both windows (default 100).
    pub rate_kbit: u32,
    /// `ZMQ_RECOVERY_IVL`: how long sent data stays repairable (default 10 s).
    pub recovery_ivl: Duration,
    /// `ZMQ_MULTICAST_HOPS`: the TTL of multicast sent (default 1: this link only).
    pub multicast_hops: u32,
    /// `ZMQ_MULTICAST_MAXTPDU`: the largest packet, IP header included (default 1500).
    pub max_tpdu: u16,
    /// `ZMQ_MAXMSGSIZE`: the largest frame a receiver accepts (default: no limit).
    pub max_msg_size: Option<u64>,
    /// Multicast looped back to this host (`IP_MULTICAST_LOOP`; libzmq: on).
    pub loopback: bool,
    /// `ZMQ_SNDHWM`: messages a [`PgmSender`] queues before [`PgmSender::send`] waits
    /// (default 1000).
    pub send_hwm: usize,
    /// `ZMQ_RCVHWM`: deliveries a [`PgmReceiver`] queues before it stops taking data out of
    /// the receive window (default 1000).
    pub recv_hwm: usize,
}

impl Default for PgmOptions {
    fn default() -> Self {
        PgmOptions {
            rate_kbit: pgm::DEFAULT_RATE_KBIT,
            recovery_ivl: pgm::DEFAULT_RECOVERY_IVL,
            multicast_hops: 1,
            max_tpdu: pgm::DEFAULT_MAX_TPDU,
            max_msg_size: None,
            loopback: true,
            send_hwm: 1000,
            recv_hwm: 1000,
        }
    }
}

impl PgmOptions {
    /// Header bytes in front of the PGM packet, counted against `max_tpdu` and the rate.
    fn ip_overhead(encapsulation: Encapsulation) -> u16 {
        match encapsulation {
            Encapsulation::Udp => EPGM_V4_OVERHEAD,
            Encapsulation::Raw => 20,
        }
    }

    fn check(&self, endpoint: &str) -> Result<(), Error> {
        let invalid = |option: &'static str, value: String| Error::InvalidOption {
            endpoint: endpoint.to_owned(),
            option,
            value,
        };
        if self.rate_kbit == 0 {
            return Err(invalid("rate", self.rate_kbit.to_string()));
        }
        if self.recovery_ivl.is_zero() {
            return Err(invalid("recovery_ivl", format!("{:?}", self.recovery_ivl)));
        }
        if !(1..=255).contains(&self.multicast_hops) {
            return Err(invalid("multicast_hops", self.multicast_hops.to_string()));
        }
        // Room for the headers (IP, UDP, PGM, data, options) and a few bytes of TSDU.
        if self.max_tpdu < 128 {
            return Err(invalid("multicast_maxtpdu", self.max_tpdu.to_string()));
        }
        if self.send_hwm == 0 || self.recv_hwm == 0 {
            return Err(invalid("hwm", "0".to_owned()));
        }
        Ok(())
    }
}

/// An endpoint made concrete: the socket kind, the interface's address, the group, the port.
#[derive(Debug, Clone)]
struct Session {
    name: String,
    encapsulation: Encapsulation,
    interface: Ipv4Addr,
    group: Ipv4Addr,
    port: u16,
}

impl Session {
    fn resolve(endpoint: &Endpoint, options: &PgmOptions) -> Result<Session, Error> {
        let name = endpoint.to_string();
        let (encapsulation, pgm) = match endpoint {
            Endpoint::Epgm(pgm) => (Encapsulation::Udp, pgm),
            Endpoint::Pgm(pgm) => (Encapsulation::Raw, pgm),
            other => {
                return Err(Error::Unsupported {
                    endpoint: name,
                    transport: other.scheme(),
                })
            }
        };
        options.check(&name)?;
        let PgmEndpoint {
            interface,
            group,
            port,
        } = pgm;
        let IpAddr::V4(group) = *group else {
            return Err(Error::Unsupported {
                endpoint: name,
                transport: "pgm over IPv6",
            });
        };
        let interface = match net::interface_v4(interface) {
            Ok(Some(ip)) => ip,
            Ok(None) => {
                return Err(Error::NoInterface {
                    endpoint: name,
                    interface: interface.clone(),
                })
            }
            Err(e) => return Err(Error::io(&name, e)),
        };
        Ok(Session {
            name,
            encapsulation,
            interface,
            group,
            port: *port,
        })
    }

    fn open(&self, role: net::Role, options: &PgmOptions) -> Result<net::Net, Error> {
        net::Net::open(
            self.encapsulation,
            role,
            self.interface,
            self.group,
            self.port,
            options,
        )
        .map_err(|e| match (self.encapsulation, e.kind()) {
            (Encapsulation::Raw, io::ErrorKind::PermissionDenied) => Error::RawSocketDenied {
                endpoint: self.name.clone(),
            },
            _ => Error::bind(&self.name, e),
        })
    }
}

/// 64 bits that differ between processes and calls (for the GSI, the source port and the
/// NAK back-off seed), from the standard library's randomly keyed hasher.
fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// Errors a datagram socket may return and then go on working.
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
    )
}

/// Sleeps until `deadline`, or for ever.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}
