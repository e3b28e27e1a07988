//! RADIO (RFC 48): distribute each message to the peers whose DISH joined its group, an
//! exact match in a group table (where PUB has a prefix trie); never block, drop for a
//! peer at its HWM as PUB does. A `udp://` session stands for every DISH on its address
//! at once and gets every message (libzmq's `subscribe_to_all`): DISHes filter there.
//!
//! JOIN and LEAVE arrive in the peers' inbound pipes ([`Membership`]'s pipe form), read
//! before each send. A peer's memberships are forgotten when its connection drops: its
//! DISH joins again on reconnect (one set, whatever it left meanwhile).

use std::collections::HashMap;
use std::task::{Context, Poll};

use zmtp_codec::{Group, Membership, Message};

use crate::dist::{self, AtHwm};
use crate::pipe::TryPop;
use crate::slab::Key;
use crate::socket_base::{Protocol, SocketBase};
use crate::{Error, Result};

#[derive(Debug, Default)]
pub(crate) struct Radio {
    peers: Vec<Key>,
    /// Who joined each group; a peer at most once per group.
    groups: HashMap<Group, Vec<Key>>,
    /// Sessions that get every message (`udp://`).
    everything: Vec<Key>,
    matched: Vec<Key>,
    /// Read every peer's pipe at the next intake, signal or not (a peer attached since).
    rescan: bool,
}

impl Radio {
    /// Applies the JOINs and LEAVEs waiting in the peers' pipes.
    fn intake(&mut self, base: &mut SocketBase) {
        let rescan = std::mem::take(&mut self.rescan);
        if !base.shared.readable.take_signal() && !rescan {
            return;
        }
        for &key in &self.peers {
            let Some(peer) = base.peers.get_mut(key) else {
                continue;
            };
            loop {
                match peer.inbound.try_pop() {
                    TryPop::Message(msg) => match Membership::from_message(&msg) {
                        Some(Membership::Join(g)) => {
                            let joined = self.groups.entry(g).or_default();
                            if !joined.contains(&key) {
                                joined.push(key);
                            }
                        }
                        Some(Membership::Leave(g)) => forget(&mut self.groups, &g, key),
                        // Sessions let nothing else through; inproc peers are DISHes.
                        None => tracing::debug!("RADIO dropping a message from a peer"),
                    },
                    TryPop::Empty => break,
                    TryPop::Finished => {
                        base.peers.note_dead(key);
                        break;
                    }
                }
            }
        }
    }

    fn forget_peer(&mut self, key: Key) {
        self.groups.retain(|_, keys| {
            keys.retain(|k| *k != key);
            !keys.is_empty()
        });
    }
}

/// Takes `key` off `group`'s list.
fn forget(groups: &mut HashMap<Group, Vec<Key>>, group: &[u8], key: Key) {
    if let Some(keys) = groups.get_mut(group) {
        keys.retain(|k| *k != key);
        if keys.is_empty() {
            groups.remove(group);
        }
    }
}

impl Protocol for Radio {
    fn attached(&mut self, _base: &mut SocketBase, key: Key) {
        self.peers.push(key);
        self.rescan = true;
    }
    fn connected(&mut self, base: &mut SocketBase, key: Key) {
        let all = base
            .peers
            .get(key)
            .and_then(|p| p.info.as_ref())
            .is_some_and(|i| i.subscribe_all);
        if all && !self.everything.contains(&key) {
            self.everything.push(key);
        }
    }
    fn disconnected(&mut self, _base: &mut SocketBase, key: Key) {
        self.forget_peer(key);
    }
    fn detached(&mut self, _base: &mut SocketBase, key: Key) {
        self.peers.retain(|k| *k != key);
        self.everything.retain(|k| *k != key);
        self.forget_peer(key);
    }
    fn reads_from(&self, _key: Key) -> bool {
        // The memberships of a peer that is gone no longer matter.
        false
    }
    fn housekeeping(&mut self, base: &mut SocketBase) {
        self.intake(base);
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
        // The message stays in `slot` on error: a failed `try_send` hands it back.
        if slot.as_ref().and_then(Message::group).is_none() {
            return Poll::Ready(Err(Error::InvalidArgument(
                "a RADIO message needs a group (Message::set_group)",
            )));
        }
        let Some(msg) = slot.take() else {
            return Poll::Ready(Ok(()));
        };
        self.intake(base);
        self.matched.clear();
        if let Some(keys) = msg.group().and_then(|g| self.groups.get(g)) {
            self.matched.extend_from_slice(keys);
        }
        self.matched.extend_from_slice(&self.everything);
        dist::send_to_all(&mut base.peers, &self.matched, msg, AtHwm::Drop);
        Poll::Ready(Ok(()))
    }
    fn poll_recv(
        &mut self,
        _base: &mut SocketBase,
        _cx: &mut Context<'_>,
    ) -> Poll<Result<Message>> {
        Poll::Ready(Err(Error::NotSupported("RADIO cannot receive")))
    }
}
