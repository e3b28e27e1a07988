//! The receiving side: a task that runs a [`Receiver`] over a socket and decodes messages.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use zmtp_codec::Message;

use super::net::{Net, Role};
use super::{random_u64, sleep_until, transient, PgmOptions, Session};
use crate::endpoint::Endpoint;
use crate::pgm::framing::{Decoder, FramingError};
use crate::pgm::{Event, Receiver, ReceiverConfig, Tsi};
use crate::Error;

/// What a [`PgmReceiver`] yields, per source in sequence order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// A whole message.
    Message {
        /// The session it came from.
        source: Tsi,
        /// The message.
        message: Message,
    },
    /// `count` packets from sequence number `first` on could not be repaired (they left
    /// the source's window, or the repair timers gave up). The message they were part of is
    /// dropped; the source's messages go on from the next one that starts after them.
    Loss {
        /// The session.
        source: Tsi,
        /// The first lost sequence number.
        first: u32,
        /// How many.
        count: u32,
    },
    /// A source's data was not ZMTP 1.0 frames as libzmq sends them (or a frame was over
    /// [`PgmOptions::max_msg_size`]); the message is dropped and decoding goes on from the
    /// next message boundary.
    Malformed {
        /// The session.
        source: Tsi,
        /// What was wrong.
        error: FramingError,
    },
    /// A source ended its session (OPT_FIN) or fell silent for 5 minutes.
    SourceEnded {
        /// The session.
        source: Tsi,
    },
}

/// The subscribing end of a PGM session (libzmq's `pgm_receiver`): joins the group, NAKs
/// what is missing, and yields every source's messages in order, or what was lost.
///
/// Dropping it leaves the group at once.
#[derive(Debug)]
pub struct PgmReceiver {
    endpoint: String,
    deliveries: mpsc::Receiver<io::Result<Delivery>>,
    malformed: MalformedPackets,
    task: JoinHandle<()>,
}

/// How many datagrams a [`PgmReceiver`] dropped because they were not PGM packets it could
/// parse (bad checksum, truncated, unknown type, bad options): a shared counter, readable
/// while the receiver runs ([`PgmReceiver::malformed_packets`]).
#[derive(Debug, Clone, Default)]
pub struct MalformedPackets(Arc<AtomicU64>);

impl MalformedPackets {
    /// Datagrams dropped so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for PgmReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PgmReceiver {
    /// Joins the group of a `pgm://` or `epgm://` endpoint. Must be called within a Tokio
    /// runtime. Errors as [`PgmSender::open`](super::PgmSender::open).
    pub async fn open(endpoint: &Endpoint, options: &PgmOptions) -> Result<PgmReceiver, Error> {
        let session = Session::resolve(endpoint, options)?;
        let net = session.open(Role::Receiver, options)?;
        let group = crate::pgm::Nla::V4(session.group.octets());
        let mut config = ReceiverConfig::new(session.port, group, random_u64());
        config.rate_kbit = options.rate_kbit;
        config.recovery_ivl = options.recovery_ivl;
        config.max_tpdu = options.max_tpdu;
        let (tx, deliveries) = mpsc::channel(options.recv_hwm);
        let malformed = MalformedPackets::default();
        let task = RecvTask {
            net,
            malformed: malformed.clone(),
            core: Receiver::new(config, Instant::now()),
            decoders: HashMap::new(),
            max_msg_size: options.max_msg_size,
            out: VecDeque::new(),
            tx,
        };
        tracing::debug!(endpoint = %session.name, "PGM group joined");
        Ok(PgmReceiver {
            endpoint: session.name,
            deliveries,
            malformed,
            task: tokio::spawn(task.run()),
        })
    }

    /// The counter of datagrams dropped as malformed (a handle that stays valid after
    /// the receiver is gone).
    pub fn malformed_packets(&self) -> MalformedPackets {
        self.malformed.clone()
    }

    /// The next delivery. [`Error::Io`] when the socket failed (once; then
    /// [`Error::SessionClosed`]).
    pub async fn recv(&mut self) -> Result<Delivery, Error> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// [`recv`](Self::recv) for a `poll`-based caller (a socket's `Stream`): registers the
    /// task's waker when nothing is ready.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Delivery, Error>> {
        self.deliveries.poll_recv(cx).map(|d| match d {
            Some(Ok(d)) => Ok(d),
            Some(Err(e)) => Err(Error::io(&self.endpoint, e)),
            None => Err(Error::SessionClosed {
                endpoint: self.endpoint.clone(),
            }),
        })
    }
}

struct RecvTask {
    net: Net,
    malformed: MalformedPackets,
    core: Receiver,
    decoders: HashMap<Tsi, Decoder>,
    max_msg_size: Option<u64>,
    /// Decoded, waiting for room in the channel: at most one TSDU's messages.
    out: VecDeque<Delivery>,
    tx: mpsc::Sender<io::Result<Delivery>>,
}

impl RecvTask {
    async fn run(mut self) {
        loop {
            while let Some(t) = self.core.poll_transmit() {
                if let Err(e) = self.net.send(t.destination, &t.datagram).await {
                    tracing::debug!(error = %e, destination = ?t.destination, "PGM send failed");
                }
            }
            while self.out.is_empty() {
                let Some(event) = self.core.poll_event() else {
                    break;
                };
                self.decode(event);
            }
            let deadline = self.core.poll_timeout();
            let ready = !self.out.is_empty();
            tokio::select! {
                received = self.net.recv() => match received {
                    Ok((datagram, from)) => {
                        if let Err(e) = self.core.handle_datagram(Instant::now(), from, &datagram) {
                            self.malformed.add();
                            tracing::trace!(error = %e, "PGM datagram ignored");
                        }
                    }
                    Err(e) if transient(&e) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "PGM receiver stopped");
                        let _ = self.tx.send(Err(e)).await;
                        return;
                    }
                },
                permit = self.tx.reserve(), if ready => match permit {
                    Ok(permit) => {
                        if let Some(d) = self.out.pop_front() {
                            permit.send(Ok(d));
                        }
                    }
                    Err(_) => return,
                },
                () = self.tx.closed(), if !ready => return,
                () = sleep_until(deadline) => self.core.handle_timeout(Instant::now()),
            }
        }
    }

    fn decode(&mut self, event: Event) {
        match event {
            Event::Data { tsi, tsdu, .. } => {
                let max = self.max_msg_size;
                let decoder = self
                    .decoders
                    .entry(tsi)
                    .or_insert_with(|| Decoder::new(max));
                let mut messages = Vec::new();
                let r = decoder.handle_tsdu(&tsdu, &mut messages);
                self.out
                    .extend(messages.into_iter().map(|message| Delivery::Message {
                        source: tsi,
                        message,
                    }));
                if let Err(error) = r {
                    tracing::debug!(?tsi, %error, "PGM data not in libzmq's framing");
                    self.out
                        .push_back(Delivery::Malformed { source: tsi, error });
                }
            }
            Event::Loss { tsi, first, count } => {
                if let Some(decoder) = self.decoders.get_mut(&tsi) {
                    decoder.handle_loss();
                }
                self.out.push_back(Delivery::Loss {
                    source: tsi,
                    first,
                    count,
                });
            }
            Event::End { tsi } => {
                self.decoders.remove(&tsi);
                self.out.push_back(Delivery::SourceEnded { source: tsi });
            }
        }
    }
}
