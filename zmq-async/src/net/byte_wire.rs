//! tcp and ipc: ZMTP bytes read straight into the codec's buffer and written vectored, with
//! a bypass through which the socket's sending task writes a message itself while the
//! connection is idle.
//!
//! The stream is split: the session's task owns the reading half and writes the codec's
//! output through the writing half, which the [`Outlet`] holds; a task sending on the
//! connection's pipe writes through the outlet too when the pipe's bypass is
//! armed (see [`crate::pipe`]'s docs: only while the session has written everything it took
//! and the pipe is empty, so messages keep their order). Both write under the outlet's
//! lock, whole messages at a time, so frames never interleave; what a bypassed write leaves
//! unwritten waits in the outlet for the session, which the pipe wakes.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncWrite;
use zmq_transports::{Stream, StreamReader, StreamWriter};
use zmtp_codec::{Connection, Encoder, Message};

use super::session::{write_chunks, Core, Outcome, Wire, WRITE_BACKLOG};
use crate::pipe::{Bypass, Bypassed};
use crate::stats::Counters;

/// Slices per vectored write.
pub(super) const MAX_IOV: usize = 64;

/// tcp and ipc: the session's side of a byte stream.
pub(crate) struct ByteWire {
    /// Until the session's [`Core`] takes it.
    reader: Option<StreamReader>,
    outlet: Arc<Outlet>,
}

impl ByteWire {
    pub(crate) fn new(stream: Stream, counters: Arc<Counters>) -> Self {
        let (reader, writer) = stream.into_split();
        let outlet = Arc::new(Outlet {
            out: Mutex::new(Out {
                writer: Some(writer),
                chunks: VecDeque::new(),
                backlog: 0,
                encoder: None,
                scratch: BytesMut::new(),
                queue: VecDeque::new(),
            }),
            counters,
        });
        ByteWire {
            reader: Some(reader),
            outlet,
        }
    }
}

impl Drop for ByteWire {
    /// A pipe may hold the outlet longer than the session lives: it must not keep the
    /// stream open.
    fn drop(&mut self) {
        self.outlet.lock().writer = None;
    }
}

/// The writing side of a connection, shared by its session and its pipe's bypass.
#[derive(Debug)]
pub(crate) struct Outlet {
    out: Mutex<Out>,
    counters: Arc<Counters>,
}

#[derive(Debug)]
struct Out {
    /// The stream's writing half while its session lives.
    writer: Option<StreamWriter>,
    /// Encoded bytes waiting to be written, in order.
    chunks: VecDeque<Bytes>,
    backlog: usize,
    /// How to encode a bypassed message; `None` until the handshake is done.
    encoder: Option<Encoder>,
    /// A bypassed message's encoding (small frames; kept for the next), and its large
    /// bodies by reference, before it.
    scratch: BytesMut,
    queue: VecDeque<Bytes>,
}

impl Outlet {
    fn lock(&self) -> MutexGuard<'_, Out> {
        // Every critical section leaves `Out` whole (chunks are consumed only after a
        // write returned), so poisoning is ignored.
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Bypass for Outlet {
    fn try_send(&self, msg: &Message) -> Bypassed {
        // Never wait for the session: it may be writing; then the message is queued.
        let Ok(mut guard) = self.out.try_lock() else {
            return Bypassed::Declined;
        };
        let out = &mut *guard;
        let (Some(writer), Some(encoder)) = (out.writer.as_ref(), out.encoder) else {
            return Bypassed::Declined;
        };
        if !out.chunks.is_empty() {
            return Bypassed::Declined;
        }
        if encoder
            .encode(msg, &mut out.scratch, &mut out.queue)
            .is_err()
        {
            // An empty message is the caller's mistake; it is not sent (as the session).
            return Bypassed::Written;
        }
        let mut slices = [IoSlice::new(&[]); MAX_IOV];
        let parts = out.queue.iter().map(|b| &b[..]);
        let n = gather(parts.chain([&out.scratch[..]]), &mut slices);
        let total: usize = slices[..n].iter().map(|s| s.len()).sum();
        let whole = n == out.queue.len() + 1;
        // On a failure nothing was written: the session meets the failure at its own next
        // write.
        let written = writer.try_write_vectored(&slices[..n]).unwrap_or_default();
        self.counters.sent_direct();
        if written > 0 {
            self.counters.written(written);
        }
        if whole && written == total {
            out.queue.clear();
            out.scratch.clear();
            return Bypassed::Written;
        }
        // The rest is the session's to write, first.
        out.chunks.append(&mut out.queue);
        if !out.scratch.is_empty() {
            out.chunks.push_back(out.scratch.split().freeze());
        }
        consume(&mut out.chunks, written);
        out.backlog = out.chunks.iter().map(Bytes::len).sum();
        Bypassed::Unfinished
    }
}

impl Wire for ByteWire {
    fn poll_fill(
        &mut self,
        cx: &mut Context<'_>,
        core: &mut Core,
    ) -> Poll<Result<Option<usize>, Outcome>> {
        core.fill(cx)
    }

    fn reader(&mut self) -> Option<StreamReader> {
        self.reader.take()
    }

    fn poll_drain(
        &mut self,
        cx: &mut Context<'_>,
        conn: &mut Connection,
    ) -> Result<(bool, usize), Outcome> {
        let mut guard = self.outlet.lock();
        let out = &mut *guard;
        let Some(writer) = out.writer.as_mut() else {
            return Ok((false, 0));
        };
        let mut total = 0;
        loop {
            // The codec's output until WRITE_BACKLOG bytes wait; the rest stays in the
            // codec, where replies to the peer's commands coalesce.
            while out.backlog < WRITE_BACKLOG {
                let Some(chunk) = conn.poll_transmit() else {
                    break;
                };
                out.backlog += chunk.len();
                out.chunks.push_back(chunk);
            }
            if out.chunks.is_empty() {
                break;
            }
            let written = match write_chunks(writer, &mut out.chunks, cx) {
                Poll::Pending => break,
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Err(Outcome::Io(e)),
            };
            total += written;
            out.backlog -= written;
        }
        Ok((total > 0, total))
    }

    fn backlog(&self) -> usize {
        self.outlet.lock().backlog
    }

    fn has_pending(&self) -> bool {
        !self.outlet.lock().chunks.is_empty()
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.outlet.lock().writer.as_mut() {
            Some(writer) => Pin::new(writer).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn bypass(&mut self, encoder: Encoder) -> Option<Arc<dyn Bypass>> {
        self.outlet.lock().encoder = Some(encoder);
        Some(self.outlet.clone())
    }
}

/// Fills `slices` with the first of `bufs` (at most [`MAX_IOV`]); how many it took.
pub(super) fn gather<'a>(
    bufs: impl Iterator<Item = &'a [u8]>,
    slices: &mut [IoSlice<'a>; MAX_IOV],
) -> usize {
    let mut n = 0;
    for (slot, buf) in slices.iter_mut().zip(bufs) {
        *slot = IoSlice::new(buf);
        n += 1;
    }
    n
}

/// Drops the first `written` bytes of `chunks`.
pub(super) fn consume(chunks: &mut VecDeque<Bytes>, written: usize) {
    let mut left = written;
    while left > 0 {
        let Some(front) = chunks.front_mut() else {
            break;
        };
        if front.len() <= left {
            left -= front.len();
            chunks.pop_front();
        } else {
            front.advance(left);
            left = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tokio::io::AsyncReadExt;
    use tokio::net::UnixStream;
    use zmtp_codec::{Config, SocketType};

    use super::*;

    /// A PUSH connection whose handshake with a PULL is done in memory, and the PULL.
    fn handshaken() -> (Connection, Connection) {
        let now = Instant::now();
        let mut a = Connection::new(Config::new(SocketType::Push), now).expect("push");
        let mut b = Connection::new(Config::new(SocketType::Pull), now).expect("pull");
        for _ in 0..4 {
            while let Some(bytes) = a.poll_transmit() {
                b.handle_input(now, &bytes).expect("to pull");
            }
            while let Some(bytes) = b.poll_transmit() {
                a.handle_input(now, &bytes).expect("to push");
            }
        }
        while let Ok(Some(_)) = b.poll_event() {}
        assert!(a.is_active() && b.is_active());
        (a, b)
    }

    /// What `conn` puts on the wire for `msg`.
    fn wire_bytes(conn: &mut Connection, msg: &Message) -> Vec<u8> {
        conn.send(msg).expect("send");
        let mut out = Vec::new();
        while let Some(chunk) = conn.poll_transmit() {
            out.extend_from_slice(&chunk);
        }
        out
    }

    fn wire() -> (ByteWire, Arc<dyn Bypass>, UnixStream, Connection) {
        let (ours, peer) = UnixStream::pair().expect("pair");
        let mut wire = ByteWire::new(ours.into(), Arc::default());
        let (conn, _) = handshaken();
        let bypass = wire
            .bypass(conn.encoder().expect("NULL"))
            .expect("byte wires have one");
        (wire, bypass, peer, conn)
    }

    #[tokio::test]
    async fn a_bypassed_message_is_written_as_the_connection_would() {
        let (wire, bypass, mut peer, mut conn) = wire();
        let msg: Message = ["a", "bc"].into_iter().collect();
        assert_eq!(bypass.try_send(&msg), Bypassed::Written);
        let expected = wire_bytes(&mut conn, &msg);
        let mut got = vec![0; expected.len()];
        peer.read_exact(&mut got).await.expect("read");
        assert_eq!(got, expected);
        assert!(!wire.has_pending());
        assert_eq!(wire.outlet.counters.snapshot(0).messages_direct, 1);
    }

    /// What the transport does not take at once waits for the session, which writes it
    /// before anything else; meanwhile the bypass declines.
    #[tokio::test]
    async fn the_rest_of_a_partial_write_is_the_sessions() {
        let (mut wire, bypass, mut peer, mut conn) = wire();
        let big: Message = [Bytes::from(vec![1u8; 4 << 20]), Bytes::from_static(b"end")]
            .into_iter()
            .collect();
        assert_eq!(bypass.try_send(&big), Bypassed::Unfinished);
        assert!(wire.has_pending(), "a socket buffer takes less than 4 MiB");
        assert_eq!(bypass.try_send(&"next".into()), Bypassed::Declined);
        let mut expected = wire_bytes(&mut conn, &big);
        let reader = tokio::spawn(async move {
            let mut got = vec![0; expected.len()];
            peer.read_exact(&mut got).await.expect("read");
            assert!(got == expected, "bytes differ");
            expected.clear();
            peer
        });
        let (mut session_conn, _) = handshaken();
        std::future::poll_fn(|cx| {
            wire.poll_drain(cx, &mut session_conn).expect("drain");
            if wire.has_pending() {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
        let _peer = reader.await.expect("reader");
        assert_eq!(bypass.try_send(&"next".into()), Bypassed::Written);
    }

    /// A pipe may keep the bypass after its session ended: it then declines, and does not
    /// keep the stream open.
    #[tokio::test]
    async fn a_bypass_outliving_its_wire_holds_no_stream() {
        let (wire, bypass, mut peer, _conn) = wire();
        drop(wire);
        assert_eq!(bypass.try_send(&"late".into()), Bypassed::Declined);
        let mut buf = [0u8; 8];
        assert_eq!(peer.read(&mut buf).await.expect("read"), 0, "closed");
    }

    #[test]
    fn no_bypass_while_the_session_holds_the_outlet() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let _guard = rt.enter();
        let (wire, bypass, _peer, _conn) = wire();
        let held = wire.outlet.lock();
        assert_eq!(bypass.try_send(&"x".into()), Bypassed::Declined);
        drop(held);
        assert_eq!(bypass.try_send(&"x".into()), Bypassed::Written);
    }
}
