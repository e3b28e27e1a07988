//! XPUB, and PUB (XPUB that neither receives nor passes subscriptions up): distribute
//! through a subscription trie; never block (RFC 29).

use std::collections::VecDeque;
use std::task::{Context, Poll};

use bytes::Bytes;
use zmtp_codec::{Message, Subscription};

use crate::dist::{self, AtHwm};
use crate::pipe::TryPop;
use crate::slab::Key;
use crate::socket_base::{Protocol, SocketBase};
use crate::trie::MTrie;
use crate::Result;

/// Messages read from one subscriber's pipe per intake before the next subscriber's turn,
/// so a peer that floods subscriptions cannot hold the socket in one intake.
const INTAKE_BUDGET: usize = 1024;

#[derive(Debug)]
pub(crate) struct XPub {
    peers: Vec<Key>,
    trie: MTrie,
    /// Subscriptions (and upstream messages) waiting for the XPUB user; the intake stops
    /// while it holds `rcvhwm` of them.
    pending: VecDeque<Message>,
    matched: Vec<Key>,
    xpub: bool,
    /// Scan at the next intake even without a signal: a peer was attached since the last
    /// one (its first subscriptions may have signalled before it was), or the last intake
    /// stopped early (budget, or `pending` at the HWM) with messages left in the pipes.
    rescan: bool,
    /// The subscriber the next intake starts with (an index into `peers`, taken modulo),
    /// so an intake cut short serves the others first next time.
    next: usize,
}

impl XPub {
    pub(crate) fn new(xpub: bool) -> Self {
        XPub {
            peers: Vec::new(),
            trie: MTrie::default(),
            pending: VecDeque::new(),
            matched: Vec::new(),
            xpub,
            rescan: false,
            next: 0,
        }
    }

    /// Reads the subscribers' inbound pipes (subscriptions travel in their message form),
    /// each in turn, up to [`INTAKE_BUDGET`] messages apiece. XPUB stops while `rcvhwm`
    /// messages wait for its user, leaving the rest in the pipes: they fill to their own
    /// HWM and their sessions stop reading, so the peers meet back-pressure and nothing
    /// is dropped.
    fn intake(&mut self, base: &mut SocketBase) {
        let rescan = std::mem::take(&mut self.rescan);
        if !base.shared.readable.take_signal() && !rescan {
            return;
        }
        let verbose = base.options.xpub_verbose;
        let limit = if self.xpub { base.options.rcvhwm } else { 0 };
        if limit != 0 && self.pending.len() >= limit {
            self.rescan = true;
            return;
        }
        let n = self.peers.len();
        for step in 0..n {
            let i = (self.next + step) % n;
            let key = self.peers[i];
            let Some(peer) = base.peers.get_mut(key) else {
                continue;
            };
            let mut budget = INTAKE_BUDGET;
            loop {
                if budget == 0 {
                    self.rescan = true;
                    break;
                }
                budget -= 1;
                match peer.inbound.try_pop() {
                    TryPop::Message(msg) => {
                        self.handle(key, msg, verbose);
                        if limit != 0 && self.pending.len() >= limit {
                            // The next intake starts with the next subscriber.
                            self.next = i + 1;
                            self.rescan = true;
                            return;
                        }
                    }
                    TryPop::Empty => break,
                    TryPop::Finished => {
                        base.peers.note_dead(key);
                        break;
                    }
                }
            }
        }
        if n > 0 {
            self.next = (self.next + 1) % n;
        }
    }

    fn handle(&mut self, key: Key, msg: Message, verbose: bool) {
        match Subscription::from_message(&msg) {
            Some(Subscription::Subscribe(topic)) => {
                let first = self.trie.add(&topic, key);
                if self.xpub && (first || verbose) {
                    self.pending.push_back(msg);
                }
            }
            Some(Subscription::Cancel(topic)) => {
                let last = self.trie.rm(&topic, key);
                if self.xpub && last {
                    self.pending.push_back(msg);
                }
            }
            None => {
                // A user message sent upstream by an XSUB: XPUB passes it on, PUB drops it.
                if self.xpub {
                    self.pending.push_back(msg);
                }
            }
        }
    }
}

impl Protocol for XPub {
    fn attached(&mut self, _base: &mut SocketBase, key: Key) {
        self.peers.push(key);
        self.rescan = true;
    }
    fn connected(&mut self, base: &mut SocketBase, key: Key) {
        let multicast = base.peers.get(key).and_then(|p| p.info.as_ref());
        if multicast.is_some_and(|info| info.subscribe_all) {
            self.trie.add(b"", key);
        }
        if let (Some(welcome), Some(peer)) = (&base.options.xpub_welcome_msg, base.peers.get(key)) {
            let _ = peer.outbound.try_push(Message::from(welcome.clone()));
        }
    }
    fn detached(&mut self, _base: &mut SocketBase, key: Key) {
        self.peers.retain(|k| *k != key);
        let (xpub, pending) = (self.xpub, &mut self.pending);
        self.trie.rm_peer(key, &mut |topic| {
            if xpub {
                let cancel = Subscription::Cancel(Bytes::copy_from_slice(topic));
                pending.push_back(cancel.to_message());
            }
        });
    }
    fn housekeeping(&mut self, base: &mut SocketBase) {
        self.intake(base);
    }
    #[cfg(test)]
    fn held(&self) -> usize {
        self.pending.len()
    }
    fn poll_ready(&mut self, _base: &mut SocketBase, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_send(
        &mut self,
        base: &mut SocketBase,
        _cx: &mut Context<'_>,
        slot: &mut Option<Message>,
    ) -> Poll<Result<()>> {
        let Some(msg) = slot.take() else {
            return Poll::Ready(Ok(()));
        };
        self.intake(base);
        let topic = msg.first().map(|f| &f[..]).unwrap_or_default();
        self.matched.clear();
        self.trie.matching(topic, &mut self.matched);
        // PUB drops at the HWM, per peer.
        dist::send_to_all(&mut base.peers, &self.matched, msg, AtHwm::Drop);
        Poll::Ready(Ok(()))
    }
    fn poll_recv(&mut self, base: &mut SocketBase, cx: &mut Context<'_>) -> Poll<Result<Message>> {
        if !self.xpub {
            return Poll::Ready(Err(crate::Error::NotSupported("PUB cannot receive")));
        }
        base.shared.readable.register(cx.waker());
        self.intake(base);
        match self.pending.pop_front() {
            Some(m) => Poll::Ready(Ok(m)),
            None => {
                if self.rescan {
                    // The intake stopped at its budget with nothing for the user yet
                    // (repeats, or PUB-only traffic): come back rather than wait for a
                    // signal that may not come.
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
        }
    }
}
