//! One tcp/ipc connection of a STREAM socket, libzmq's `raw_engine`: no ZMTP, the bytes
//! read from the connection go to the socket as they arrive, and what the socket sends is
//! written as it is.
//!
//! The peer is attached (or, for a `connect`, told connected) as soon as the connection
//! exists. With `stream_notify`, the first message to the socket is empty (the connect
//! notification) and so is the last when the peer goes (the disconnect notification).
//! Each read becomes one message of at most [`READ_SIZE`] bytes; while the inbound pipe is
//! at its HWM nothing more is read, so a fast peer meets TCP's back-pressure. The socket
//! closes the connection by closing its end of the outbound pipe (STREAM's `[id, empty]`):
//! what was queued before is written first.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::io::poll_read_buf;
use zmtp_codec::Message;

use crate::peer::{PeerInfo, SocketType};

use super::session::{write_chunks, Link, Outcome, BUDGET, WRITE_BACKLOG};

/// The most bytes one read takes, and so one message holds (libzmq's `in_batch_size`).
pub(crate) const READ_SIZE: usize = 8192;

/// Runs one raw connection until it ends.
pub(crate) fn run<'a, S>(stream: S, link: Link<'a>) -> impl Future<Output = Outcome> + Send + 'a
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'a,
{
    let notify = link.handle.options().stream_notify;
    let mut session = RawSession {
        stream,
        link,
        notify,
        started: false,
        inbox: None,
        read_buf: BytesMut::new(),
        chunks: VecDeque::new(),
        backlog: 0,
        gone: None,
        outbound_done: false,
    };
    std::future::poll_fn(move |cx| session.poll(cx))
}

struct RawSession<'a, S> {
    stream: S,
    link: Link<'a>,
    /// `stream_notify`: tell the socket when the peer comes and goes.
    notify: bool,
    started: bool,
    /// The message waiting for room in the inbound pipe; nothing more is read meanwhile.
    inbox: Option<Message>,
    read_buf: BytesMut,
    /// Bytes waiting to be written.
    chunks: VecDeque<Bytes>,
    backlog: usize,
    /// How the connection broke (the peer closed it, or the transport failed), once it did.
    gone: Option<Outcome>,
    /// The socket closed its end of the outbound pipe: write what is queued, then close.
    outbound_done: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> RawSession<'_, S> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Outcome> {
        let r = self.poll_turns(cx);
        if let Poll::Ready(outcome) = &r {
            // No handshake: DISCONNECTED only. (libzmq's raw engine raises
            // HANDSHAKE_FAILED_NO_DETAIL before it, as if every raw connection had failed a
            // handshake; we do not.)
            self.link.report_end(outcome, Some(None));
        }
        r
    }

    fn poll_turns(&mut self, cx: &mut Context<'_>) -> Poll<Outcome> {
        if !self.started {
            if let Err(outcome) = self.start() {
                return Poll::Ready(outcome);
            }
        }
        for _ in 0..BUDGET {
            match self.turn(cx) {
                Ok(true) => continue,
                Ok(false) => return Poll::Pending,
                Err(outcome) => return Poll::Ready(outcome),
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Joins the peer to the socket at once: a raw connection has no handshake.
    fn start(&mut self) -> Result<(), Outcome> {
        self.started = true;
        self.link.connected(PeerInfo::new(SocketType::Stream))?;
        if self.notify {
            self.inbox = Some(notification());
        }
        Ok(())
    }

    /// One pass over every source; `Ok(true)` if anything moved.
    fn turn(&mut self, cx: &mut Context<'_>) -> Result<bool, Outcome> {
        let mut progress = self.flush_inbox(cx)?;
        progress |= self.poll_read(cx);
        progress |= self.poll_outbound(cx);
        progress |= self.poll_write(cx);
        if self.outbound_done && self.chunks.is_empty() {
            // Whatever the peer still sends is not wanted: the socket closed it.
            let _ = Pin::new(&mut self.stream).poll_shutdown(cx);
            return Err(Outcome::SocketClosed);
        }
        if self.gone.is_some() && self.inbox.is_none() {
            // The disconnect notification (if any) is in the pipe.
            return Err(self.gone.take().unwrap_or(Outcome::PeerClosed));
        }
        Ok(progress)
    }

    /// Moves the waiting message into the inbound pipe if it has room.
    fn flush_inbox(&mut self, cx: &mut Context<'_>) -> Result<bool, Outcome> {
        let Some(msg) = self.inbox.take() else {
            return Ok(false);
        };
        let Some(pipes) = self.link.pipes.as_mut() else {
            return Err(Outcome::SocketClosed);
        };
        match pipes.inbound.poll_ready(cx) {
            Poll::Pending => {
                self.inbox = Some(msg);
                Ok(false)
            }
            // The socket stopped reading (it is gone, or closed this peer): what arrives
            // has nowhere to go.
            Poll::Ready(Err(_)) => Ok(true),
            Poll::Ready(Ok(())) => {
                // Only this session pushes, so the room seen is still there.
                let _ = pipes.inbound.try_push(msg);
                Ok(true)
            }
        }
    }

    /// Reads once if the last read was delivered: its bytes become the next message.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> bool {
        if self.gone.is_some() || self.inbox.is_some() {
            return false;
        }
        self.read_buf.clear();
        self.read_buf.reserve(READ_SIZE);
        match poll_read_buf(Pin::new(&mut self.stream), cx, &mut self.read_buf) {
            Poll::Pending => false,
            Poll::Ready(Ok(0)) => {
                self.broken(Outcome::PeerClosed);
                true
            }
            Poll::Ready(Ok(n)) => {
                let counters = &self.link.handle.shared.counters;
                counters.read(n);
                counters.received(1);
                // A copy the size of the read, so a small message does not hold the buffer.
                self.inbox = Some(Message::from(Bytes::copy_from_slice(&self.read_buf)));
                true
            }
            Poll::Ready(Err(e)) => {
                self.broken(Outcome::Io(e));
                true
            }
        }
    }

    /// The connection broke: nothing more is read, and the socket hears of it.
    fn broken(&mut self, outcome: Outcome) {
        if self.gone.is_none() {
            self.gone = Some(outcome);
            if self.notify {
                self.inbox = Some(notification());
            }
        }
    }

    /// Takes messages to write from the outbound pipe while the write backlog allows.
    fn poll_outbound(&mut self, cx: &mut Context<'_>) -> bool {
        if self.outbound_done || self.gone.is_some() {
            return false;
        }
        let Some(pipes) = self.link.pipes.as_mut() else {
            return false;
        };
        let mut progress = false;
        while self.backlog < WRITE_BACKLOG {
            match pipes.outbound.poll_pop(cx) {
                Poll::Pending => break,
                Poll::Ready(None) => {
                    self.outbound_done = true;
                    return true;
                }
                Poll::Ready(Some(msg)) => {
                    progress = true;
                    self.link.handle.shared.counters.sent(1);
                    for frame in msg.into_frames() {
                        if !frame.is_empty() {
                            self.backlog += frame.len();
                            self.chunks.push_back(frame.into());
                        }
                    }
                }
            }
        }
        progress
    }

    /// Writes as much queued output as the transport takes.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while !self.chunks.is_empty() && self.gone.is_none() {
            match write_chunks(&mut self.stream, &mut self.chunks, cx) {
                Poll::Pending => break,
                Poll::Ready(Ok(n)) => {
                    progress = true;
                    self.link.handle.shared.counters.written(n);
                    self.backlog -= n;
                }
                Poll::Ready(Err(e)) => {
                    progress = true;
                    self.broken(Outcome::Io(e));
                }
            }
        }
        if self.gone.is_some() && !self.chunks.is_empty() {
            // Nobody will read these.
            self.chunks.clear();
            self.backlog = 0;
        }
        progress
    }
}

/// The empty message of `stream_notify`.
fn notification() -> Message {
    Message::from(Bytes::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::io;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::StreamSocket;

    const GUARD: Duration = Duration::from_secs(30);

    /// A peer that writes far more than the socket reads fills the inbound pipe to its
    /// HWM and then the kernel's buffers: the session stops reading instead of buffering,
    /// and every byte still arrives, in order, once the socket reads.
    #[tokio::test]
    async fn a_fast_peer_meets_back_pressure_and_loses_nothing() {
        let mut socket = StreamSocket::new();
        socket.set_rcvhwm(4).expect("rcvhwm");
        let endpoint = socket.bind("tcp://127.0.0.1:0").await.expect("bind");
        let addr = endpoint.trim_start_matches("tcp://");
        let mut client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let notified = tokio::time::timeout(GUARD, socket.recv())
            .await
            .expect("hang")
            .expect("notification");
        assert_eq!(notified.len(), 2);
        assert!(notified[1].is_empty());

        // Write until the kernel refuses more: the session stopped reading at the HWM,
        // so the kernel's buffers filled up behind it.
        let mut sent: u64 = 0;
        let chunk = [7u8; 4096];
        loop {
            match client.try_write(&chunk) {
                Ok(n) => sent += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("write: {e}"),
            }
        }
        let held = socket.held_inbound();
        assert!(held <= 4, "{held} messages held with rcvhwm 4");
        assert!(sent > (5 * READ_SIZE) as u64, "only {sent} bytes went out");

        let mut received: u64 = 0;
        while received < sent {
            let msg = tokio::time::timeout(GUARD, socket.recv())
                .await
                .expect("hang")
                .expect("recv");
            assert!(msg[1].iter().all(|&b| b == 7));
            assert!(msg[1].len() <= READ_SIZE);
            received += msg[1].len() as u64;
        }
        assert_eq!(received, sent);
        client.shutdown().await.expect("shutdown");
        let mut rest = Vec::new();
        let _ = client.read_to_end(&mut rest).await;
    }
}
