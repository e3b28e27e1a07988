//! What the fuzz targets in `zmq-async/fuzz` reach that the public API does not: the
//! subscription tries. Only with the `fuzzing` feature; not a public API.
//!
//! The socket types themselves are fuzzed through the public API (a [`Socket`] and
//! peers attached with [`SocketHandle::attach`], as the transports attach them), so they
//! run the real socket core, mailbox and protocol code.
//!
//! [`Socket`]: crate::Socket
//! [`SocketHandle::attach`]: crate::SocketHandle::attach

use std::collections::HashMap;

use crate::slab::{GenSlab, Key};

/// A subscriber's counted topic set (`trie::SubTrie`).
#[derive(Debug, Default)]
pub struct SubTrie(crate::trie::SubTrie);

impl SubTrie {
    /// Adds one reference to `topic`; true when it is the first.
    pub fn add(&mut self, topic: &[u8]) -> bool {
        self.0.add(topic)
    }

    /// Removes one reference to `topic`; true when it was the last.
    pub fn rm(&mut self, topic: &[u8]) -> bool {
        self.0.rm(topic)
    }

    /// True when some subscribed topic is a prefix of `data`.
    pub fn matches(&self, data: &[u8]) -> bool {
        self.0.matches(data)
    }

    /// Every subscribed topic, once each.
    pub fn topics(&self) -> Vec<Vec<u8>> {
        self.0.topics()
    }
}

/// A publisher's topic → peers map (`trie::MTrie`), with peers named by number.
#[derive(Debug, Default)]
pub struct MTrie {
    trie: crate::trie::MTrie,
    slab: GenSlab<u32>,
    keys: HashMap<u32, Key>,
}

impl MTrie {
    fn key(&mut self, peer: u32) -> Key {
        if let Some(&key) = self.keys.get(&peer) {
            return key;
        }
        let key = self.slab.insert(peer);
        self.keys.insert(peer, key);
        key
    }

    fn peer(&self, key: Key) -> u32 {
        self.slab.get(key).copied().unwrap_or(u32::MAX)
    }

    /// Subscribes `peer` to `topic`; true when `topic` had no subscriber before.
    pub fn add(&mut self, topic: &[u8], peer: u32) -> bool {
        let key = self.key(peer);
        self.trie.add(topic, key)
    }

    /// Unsubscribes `peer` from `topic`; true when that left the topic with no subscriber.
    pub fn rm(&mut self, topic: &[u8], peer: u32) -> bool {
        let key = self.key(peer);
        self.trie.rm(topic, key)
    }

    /// Removes `peer` everywhere; calls `orphaned` with each topic left without
    /// subscribers. The peer's number may be used again afterwards, as a new peer (a new
    /// key, as the socket gives a new peer).
    pub fn rm_peer(&mut self, peer: u32, orphaned: &mut dyn FnMut(&[u8])) {
        let Some(key) = self.keys.remove(&peer) else {
            return;
        };
        self.trie.rm_peer(key, orphaned);
        self.slab.remove(key);
    }

    /// The peers subscribed to a prefix of `data`, each once, in no particular order.
    pub fn matching(&self, data: &[u8]) -> Vec<u32> {
        let mut out = Vec::new();
        self.trie.matching(data, &mut out);
        out.into_iter().map(|k| self.peer(k)).collect()
    }
}
