//! The sending side: a task that runs a [`Source`] over a socket.

use std::io;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use zmtp_codec::Message;

use super::net::{Net, Role};
use super::{random_u64, sleep_until, transient, PgmOptions, Session};
use crate::endpoint::Endpoint;
use crate::pgm::framing::Encoder;
use crate::pgm::{Nla, SendError, Source, SourceConfig, Tsi};
use crate::Error;

enum Command {
    Send(Message),
    Close(Duration),
}

/// The publishing end of a PGM session (libzmq's `pgm_sender`): whole messages in, ODATA
/// out at `rate`, repairs served while the data is in the window.
///
/// Dropping it sends what is queued, then ends the session at once (three SPMs with
/// OPT_FIN); [`close`](Self::close) can keep serving repairs for a while first.
#[derive(Debug)]
pub struct PgmSender {
    endpoint: String,
    tsi: Tsi,
    nla: Nla,
    commands: mpsc::Sender<Command>,
    task: JoinHandle<io::Result<()>>,
}

impl PgmSender {
    /// Opens a session on a `pgm://` or `epgm://` endpoint: the socket is bound and joined,
    /// and three SPMs announce the session. Must be called within a Tokio runtime.
    ///
    /// Errors: [`Error::Unsupported`] for other transports and IPv6 groups,
    /// [`Error::NoInterface`], [`Error::InvalidOption`], [`Error::RawSocketDenied`] for
    /// `pgm://` without the privilege, [`Error::Io`] when the socket cannot be set up.
    pub async fn open(endpoint: &Endpoint, options: &PgmOptions) -> Result<PgmSender, Error> {
        let session = Session::resolve(endpoint, options)?;
        let net = session.open(Role::Source, options)?;
        let random = random_u64().to_be_bytes();
        let mut gsi = [0; 6];
        gsi.copy_from_slice(&random[..6]);
        // OpenPGM draws the source port at random too; never the data port itself.
        let sport = match u16::from_be_bytes([random[6], random[7]]) {
            p if p == session.port || p == 0 => session.port.wrapping_add(1).max(1),
            p => p,
        };
        let nla = Nla::V4(session.interface.octets());
        let mut config = SourceConfig::new(gsi, sport, session.port, nla);
        config.rate_kbit = options.rate_kbit;
        config.recovery_ivl = options.recovery_ivl;
        config.max_tpdu = options.max_tpdu;
        config.ip_overhead = PgmOptions::ip_overhead(session.encapsulation);
        let source = Source::new(config, Instant::now());
        let tsi = source.tsi();
        let (commands, queue) = mpsc::channel(options.send_hwm);
        let max_tsdu = source.max_tsdu();
        let task = SendTask {
            net,
            encoder: Encoder::new(max_tsdu),
            // Enough frames to fill a TSDU (each takes two bytes or more), and no more.
            max_frames: max_tsdu / 2,
            source,
            queue,
            pending: None,
            rate_wait: None,
            linger_until: None,
        };
        tracing::debug!(endpoint = %session.name, ?tsi, "PGM session opened");
        Ok(PgmSender {
            endpoint: session.name,
            tsi,
            nla,
            commands,
            task: tokio::spawn(task.run()),
        })
    }

    /// The session's identifier (random GSI and source port), as receivers key it.
    pub fn tsi(&self) -> Tsi {
        self.tsi
    }

    /// The unicast address advertised in SPMs, where receivers send NAKs.
    pub fn nla(&self) -> Nla {
        self.nla
    }

    /// Queues a message; waits while [`PgmOptions::send_hwm`] messages are queued. A message
    /// of no frames sends nothing. [`Error::SessionClosed`] once the session has stopped (an
    /// I/O error, which [`close`](Self::close) returns).
    pub async fn send(&self, message: Message) -> Result<(), Error> {
        self.commands
            .send(Command::Send(message))
            .await
            .map_err(|_| Error::SessionClosed {
                endpoint: self.endpoint.clone(),
            })
    }

    /// Queues a message if there is room, as a PUB socket does (it drops what does not fit
    /// under its high-water mark rather than wait): the message comes back in the error.
    pub fn try_send(&self, message: Message) -> Result<(), TrySendError> {
        self.commands
            .try_send(Command::Send(message))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(Command::Send(m)) => TrySendError::Full(m),
                mpsc::error::TrySendError::Closed(Command::Send(m)) => TrySendError::Closed(m),
                // Only `close`, which takes the sender, sends anything else.
                mpsc::error::TrySendError::Full(Command::Close(_))
                | mpsc::error::TrySendError::Closed(Command::Close(_)) => {
                    TrySendError::Closed(Message::new())
                }
            })
    }

    /// Sends everything queued, serves repairs for `linger` more, then ends the session
    /// (three SPMs with OPT_FIN: receivers report what they still miss as lost). Returns
    /// the I/O error that stopped the session early, if one did.
    pub async fn close(self, linger: Duration) -> Result<(), Error> {
        // If the task has already stopped, its result says why.
        let _ = self.commands.send(Command::Close(linger)).await;
        match self.task.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::io(&self.endpoint, e)),
            Err(e) => Err(Error::io(&self.endpoint, io::Error::other(e))),
        }
    }
}

/// Why [`PgmSender::try_send`] did not queue a message (it is handed back).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrySendError {
    /// [`PgmOptions::send_hwm`] messages are queued.
    #[error("send queue full")]
    Full(Message),
    /// The session has stopped.
    #[error("session closed")]
    Closed(Message),
}

struct SendTask {
    net: Net,
    source: Source,
    encoder: Encoder,
    max_frames: usize,
    queue: mpsc::Receiver<Command>,
    /// A TSDU the source did not take yet (rate limit or a full transmit queue).
    pending: Option<Bytes>,
    rate_wait: Option<Instant>,
    /// Set once closing: when to end the session.
    linger_until: Option<Instant>,
}

impl SendTask {
    async fn run(mut self) -> io::Result<()> {
        loop {
            self.flush().await;
            let now = Instant::now();
            let busy = self.pump(now);
            self.flush().await;
            if busy {
                tokio::task::yield_now().await;
                continue;
            }
            let idle = self.pending.is_none() && self.encoder.pending_frames() == 0;
            if let (Some(until), true) = (self.linger_until, idle) {
                if now >= until {
                    self.source.handle_close();
                    self.flush().await;
                    tracing::debug!(tsi = ?self.source.tsi(), "PGM session closed");
                    return Ok(());
                }
            }
            let deadline = [
                self.source.poll_timeout(),
                self.rate_wait,
                self.linger_until.filter(|_| idle),
            ]
            .into_iter()
            .flatten()
            .min();
            let accept = self.linger_until.is_none()
                && self.pending.is_none()
                && self.encoder.pending_frames() < self.max_frames;
            tokio::select! {
                received = self.net.recv() => match received {
                    Ok((datagram, _from)) => {
                        if let Err(e) = self.source.handle_datagram(Instant::now(), &datagram) {
                            tracing::trace!(error = %e, "PGM datagram ignored");
                        }
                    }
                    Err(e) if transient(&e) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "PGM session stopped");
                        return Err(e);
                    }
                },
                command = self.queue.recv(), if accept => self.command(now, command),
                () = sleep_until(deadline) => {
                    self.rate_wait = None;
                    self.source.handle_timeout(Instant::now());
                }
            }
        }
    }

    fn command(&mut self, now: Instant, command: Option<Command>) {
        match command {
            Some(Command::Send(message)) => self.encoder.push(&message),
            Some(Command::Close(linger)) => self.linger_until = Some(now + linger),
            None => self.linger_until = Some(now),
        }
    }

    /// Packs queued messages into TSDUs and hands them to the source while it takes them.
    /// Returns true when the source's transmit queue is full (flush, then pump again).
    fn pump(&mut self, now: Instant) -> bool {
        loop {
            if self.pending.is_none() {
                while self.linger_until.is_none() && self.encoder.pending_frames() < self.max_frames
                {
                    match self.queue.try_recv() {
                        Ok(command) => self.command(now, Some(command)),
                        Err(mpsc::error::TryRecvError::Empty) => break,
                        Err(mpsc::error::TryRecvError::Disconnected) => self.command(now, None),
                    }
                }
                self.pending = self.encoder.poll_tsdu();
            }
            let Some(tsdu) = self.pending.take() else {
                return false;
            };
            match self.source.handle_send(now, tsdu.clone()) {
                Ok(_) => self.rate_wait = None,
                Err(SendError::RateLimited { until }) => {
                    self.pending = Some(tsdu);
                    self.rate_wait = Some(until);
                    return false;
                }
                Err(SendError::Busy) => {
                    self.pending = Some(tsdu);
                    return true;
                }
                Err(e) => {
                    // The encoder makes TSDUs of the source's size and the source closes
                    // only here: neither happens.
                    tracing::error!(error = %e, "PGM TSDU refused by the source, dropped");
                    return false;
                }
            }
        }
    }

    /// Sends every datagram the source has queued. A failed send is logged and otherwise
    /// ignored: PGM repairs lost packets, and the socket error may pass (an interface
    /// briefly down, a full buffer).
    async fn flush(&mut self) {
        while let Some(t) = self.source.poll_transmit() {
            if let Err(e) = self.net.send(t.destination, &t.datagram).await {
                tracing::debug!(error = %e, destination = ?t.destination, "PGM send failed");
            }
        }
    }
}
