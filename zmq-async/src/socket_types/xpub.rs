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
    /// The subscriber each message of `pending` came from (none: a cancel for a peer gone).
    senders: VecDeque<Option<Key>>,
    /// `xpub_manual`: the subscriber of the last subscription the user received, whom the
    /// user's `subscribe` and `unsubscribe` apply to.
    last_sender: Option<Key>,
    /// `xpub_manual`: what each subscriber asked for (the trie holds what the user
    /// granted), so that a subscriber's departure cancels what it asked for.
    asked: MTrie,
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
            senders: VecDeque::new(),
            last_sender: None,
            asked: MTrie::default(),
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
        let manual = self.xpub && base.options.xpub_manual;
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
                        self.handle(key, msg, verbose, manual);
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

    fn handle(&mut self, key: Key, msg: Message, verbose: bool, manual: bool) {
        if manual {
            // As libzmq: every subscribe and cancel goes to the user, who decides.
            match Subscription::from_message(&msg) {
                Some(Subscription::Subscribe(topic)) => {
                    self.asked.add(&topic, key);
                }
                Some(Subscription::Cancel(topic)) => {
                    self.asked.rm(&topic, key);
                }
                None => {}
            }
            self.pend(msg, Some(key));
            return;
        }
        match Subscription::from_message(&msg) {
            Some(Subscription::Subscribe(topic)) => {
                let first = self.trie.add(&topic, key);
                if self.xpub && (first || verbose) {
                    self.pend(msg, Some(key));
                }
            }
            Some(Subscription::Cancel(topic)) => {
                let last = self.trie.rm(&topic, key);
                if self.xpub && last {
                    self.pend(msg, Some(key));
                }
            }
            None => {
                // A user message sent upstream by an XSUB: XPUB passes it on, PUB drops it.
                if self.xpub {
                    self.pend(msg, Some(key));
                }
            }
        }
    }

    /// Queues a message for the XPUB user.
    fn pend(&mut self, msg: Message, from: Option<Key>) {
        self.pending.push_back(msg);
        self.senders.push_back(from);
    }

    /// The subscribers a message with this first frame goes to: those with a matching
    /// subscription, or with `invert_matching` those without.
    fn select(&mut self, topic: &[u8], invert: bool) {
        self.matched.clear();
        self.trie.matching(topic, &mut self.matched);
        if invert {
            // The complement, built behind the matches and then moved to the front.
            self.matched.sort_unstable();
            let matching = self.matched.len();
            for &key in &self.peers {
                if self.matched[..matching].binary_search(&key).is_err() {
                    self.matched.push(key);
                }
            }
            self.matched.drain(..matching);
        }
    }

    /// `xpub_nodrop`: whether every selected subscriber has room (a closed one does not
    /// count: it will never have room, and takes nothing).
    fn all_have_room(&self, base: &SocketBase) -> bool {
        self.matched.iter().all(|k| {
            base.peers
                .get(*k)
                .map_or(true, |p| p.outbound.has_room() || p.outbound.is_closed())
        })
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
        if let (Some(welcome), Some(peer)) =
            (&base.options.xpub_welcome_msg, base.peers.get_mut(key))
        {
            let _ = peer.outbound.try_push(Message::from(welcome.clone()));
        }
    }
    fn detached(&mut self, base: &mut SocketBase, key: Key) {
        self.peers.retain(|k| *k != key);
        if self.last_sender == Some(key) {
            self.last_sender = None;
        }
        let (xpub, pending, senders) = (self.xpub, &mut self.pending, &mut self.senders);
        let mut cancel = |topic: &[u8]| {
            if xpub {
                let cancel = Subscription::Cancel(Bytes::copy_from_slice(topic));
                pending.push_back(cancel.to_message());
                senders.push_back(None);
            }
        };
        if self.xpub && base.options.xpub_manual {
            // The user hears of everything the subscriber asked for, as libzmq's manual XPUB.
            self.asked.rm_peer_reporting_all(key, &mut cancel);
            self.trie.rm_peer(key, &mut |_| {});
        } else {
            self.asked.rm_peer(key, &mut |_| {});
            self.trie.rm_peer(key, &mut cancel);
        }
    }
    fn housekeeping(&mut self, base: &mut SocketBase) {
        self.intake(base);
    }
    #[cfg(test)]
    fn held(&self) -> usize {
        self.pending.len()
    }
    /// XPUB with `xpub_manual`: grants (or withdraws) `topic` to the subscriber of the last
    /// subscription received.
    fn subscribe(&mut self, base: &mut SocketBase, topic: &[u8], on: bool) -> Result<()> {
        if !(self.xpub && base.options.xpub_manual) {
            return Err(crate::Error::NotSupported(
                "XPUB subscribes its subscribers only with xpub_manual",
            ));
        }
        if let Some(key) = self.last_sender.filter(|k| base.peers.get(*k).is_some()) {
            if on {
                self.trie.add(topic, key);
            } else {
                self.trie.rm(topic, key);
            }
        }
        Ok(())
    }
    fn poll_ready(&mut self, _base: &mut SocketBase, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_send(
        &mut self,
        base: &mut SocketBase,
        cx: &mut Context<'_>,
        slot: &mut Option<Message>,
    ) -> Poll<Result<()>> {
        let Some(msg) = slot.take() else {
            return Poll::Ready(Ok(()));
        };
        self.intake(base);
        let topic = msg.first().map(|f| &f[..]).unwrap_or_default();
        self.select(topic, base.options.invert_matching);
        if base.options.xpub_nodrop && !self.all_have_room(base) {
            // All or nothing, as libzmq's `check_hwm`: wait until every selected
            // subscriber has room (register, then look again so room made since counts).
            base.shared.writable.register(cx.waker());
            if !self.all_have_room(base) {
                *slot = Some(msg);
                return Poll::Pending;
            }
        }
        // PUB drops at the HWM, per peer (never, with xpub_nodrop: all have room).
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
            Some(m) => {
                self.last_sender = self.senders.pop_front().flatten();
                Poll::Ready(Ok(m))
            }
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
