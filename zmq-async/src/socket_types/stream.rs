//! STREAM: ROUTER's routing table over raw byte-stream peers (libzmq's `stream`).
//!
//! Every tcp or ipc connection is a peer with a routing id generated when it is attached
//! (or `connect_routing_id` for a `connect`), kept across the reconnects of a `connect`.
//! Received messages are `[routing id, bytes]`, the bytes one read from the connection;
//! with `stream_notify` the connection's session also sends an empty message when it
//! connects and when it drops, received as `[routing id, empty]`. Sending `[routing id,
//! bytes]` writes the bytes; `[routing id, empty]` closes that connection once what was
//! sent to it before has been written.

use std::task::{Context, Poll};

use zmtp_codec::Message;

use crate::routing::RoutingTable;
use crate::slab::Key;
use crate::socket_base::{Protocol, SocketBase};
use crate::{Error, Result};

/// STREAM: a routing id for every connection; raw bytes both ways.
#[derive(Debug)]
pub(crate) struct Stream {
    table: RoutingTable,
}

impl Stream {
    pub(crate) fn new() -> Self {
        Stream {
            table: RoutingTable::new(true),
        }
    }

    /// Closes the connection routed to by `id` after what was queued for it (the send of
    /// `[id, empty]`). The peer leaves the routing table now: what it sends from here on
    /// is not read, and `id` is unknown to later sends.
    fn close(&mut self, base: &mut SocketBase, id: &[u8]) -> Result<()> {
        let Some(key) = self.table.key_of(id) else {
            return Err(Error::HostUnreachable);
        };
        self.table.detached(key);
        if let Some(peer) = base.peers.get_mut(key) {
            peer.outbound.close();
            peer.inbound.close();
        }
        base.peers.note_dead(key);
        Ok(())
    }
}

impl Protocol for Stream {
    fn routing(&mut self) -> Option<&mut RoutingTable> {
        Some(&mut self.table)
    }
    /// As libzmq: the routing id is given when the peer's pipes are made (at `connect` for
    /// a connect), not at each connection, so a reconnecting peer keeps it.
    fn attached(&mut self, base: &mut SocketBase, key: Key) {
        // Without handover nothing is handed over. (`connect` refuses an alias in use; one
        // that raced into use leaves the peer unrouted and unread, as ROUTER's duplicates.)
        let _none = self.table.identify(&base.peers, false, key);
    }
    fn connected(&mut self, _base: &mut SocketBase, _key: Key) {}
    fn reads_from(&self, key: Key) -> bool {
        self.table.reads_from(key)
    }
    fn poll_ready(&mut self, _base: &mut SocketBase, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        // As ROUTER: whether a message can go depends on its target.
        Poll::Ready(Ok(()))
    }
    fn poll_send(
        &mut self,
        base: &mut SocketBase,
        cx: &mut Context<'_>,
        slot: &mut Option<Message>,
    ) -> Poll<Result<()>> {
        let Some(msg) = slot.as_ref() else {
            return Poll::Ready(Ok(()));
        };
        let (Some(id), Some(data), 2) = (msg.get(0), msg.get(1), msg.len()) else {
            return Poll::Ready(Err(Error::InvalidArgument(
                "a STREAM message is two frames: [routing id, data]",
            )));
        };
        if data.is_empty() {
            let id = id.clone();
            *slot = None;
            return Poll::Ready(self.close(base, &id));
        }
        // As libzmq: an unknown id fails (EHOSTUNREACH) and a full peer makes the send wait
        // (EAGAIN), whatever `router_mandatory` says.
        let writable = &base.shared.writable;
        self.table
            .poll_route(&mut base.peers, writable, true, cx, slot)
    }
    fn poll_recv(&mut self, base: &mut SocketBase, cx: &mut Context<'_>) -> Poll<Result<Message>> {
        self.table
            .poll_recv_addressed(&mut base.peers, &base.shared.readable, cx)
            .map(Ok)
    }
}
