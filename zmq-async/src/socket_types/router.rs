//! ROUTER: fair-queue in with the sender's routing id prepended, route out by the first
//! frame (RFC 28).

use std::task::{Context, Poll};

use zmtp_codec::Message;

use crate::routing::RoutingTable;
use crate::slab::Key;
use crate::socket_base::{Protocol, SocketBase};
use crate::Result;

/// ROUTER: prepends the sender's routing id on receive, routes by the first frame on send.
#[derive(Debug)]
pub(crate) struct Router {
    table: RoutingTable,
}

impl Router {
    pub(crate) fn new() -> Self {
        Router {
            table: RoutingTable::new(true),
        }
    }
}

impl Protocol for Router {
    fn routing(&mut self) -> Option<&mut RoutingTable> {
        Some(&mut self.table)
    }
    fn attached(&mut self, base: &mut SocketBase, key: Key) {
        base.probe(key);
    }
    fn reads_from(&self, key: Key) -> bool {
        self.table.reads_from(key)
    }
    fn poll_ready(&mut self, _base: &mut SocketBase, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        // As libzmq: ROUTER is always writable; whether a message can go depends on its target.
        Poll::Ready(Ok(()))
    }
    fn poll_send(
        &mut self,
        base: &mut SocketBase,
        cx: &mut Context<'_>,
        slot: &mut Option<Message>,
    ) -> Poll<Result<()>> {
        let mandatory = base.options.router_mandatory;
        let writable = &base.shared.writable;
        self.table
            .poll_route(&mut base.peers, writable, mandatory, cx, slot)
    }
    fn poll_recv(&mut self, base: &mut SocketBase, cx: &mut Context<'_>) -> Poll<Result<Message>> {
        self.table
            .poll_recv_addressed(&mut base.peers, &base.shared.readable, cx)
            .map(Ok)
    }
}
