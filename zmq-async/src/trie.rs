//! Subscription tries: prefix match on a message's first frame.
//!
//! [`SubTrie`] is the subscriber's own counted set (subscribe twice, cancel
//! twice). [`MTrie`] is the publisher's map from topic to the peers that
//! subscribed to it, as libzmq's `mtrie_t`.

use std::collections::BTreeMap;

use crate::slab::Key;

/// Counted subscriptions of one SUB/XSUB socket.
#[derive(Debug, Default)]
pub(crate) struct SubTrie {
    count: usize,
    children: BTreeMap<u8, SubTrie>,
}

impl SubTrie {
    /// Adds one reference to `topic`; true when it is the first.
    pub(crate) fn add(&mut self, topic: &[u8]) -> bool {
        let mut node = self;
        for b in topic {
            node = node.children.entry(*b).or_default();
        }
        node.count += 1;
        node.count == 1
    }

    /// Removes one reference to `topic`; true when it was the last.
    pub(crate) fn rm(&mut self, topic: &[u8]) -> bool {
        fn go(node: &mut SubTrie, topic: &[u8]) -> bool {
            match topic.split_first() {
                None => {
                    if node.count == 0 {
                        return false;
                    }
                    node.count -= 1;
                    node.count == 0
                }
                Some((b, rest)) => {
                    let Some(child) = node.children.get_mut(b) else {
                        return false;
                    };
                    let last = go(child, rest);
                    if child.count == 0 && child.children.is_empty() {
                        node.children.remove(b);
                    }
                    last
                }
            }
        }
        go(self, topic)
    }

    /// True when some subscribed topic is a prefix of `data`.
    pub(crate) fn matches(&self, data: &[u8]) -> bool {
        let mut node = self;
        if node.count > 0 {
            return true;
        }
        for b in data {
            match node.children.get(b) {
                Some(child) => node = child,
                None => return false,
            }
            if node.count > 0 {
                return true;
            }
        }
        false
    }

    /// Every subscribed topic, once each.
    pub(crate) fn topics(&self) -> Vec<Vec<u8>> {
        fn go(node: &SubTrie, path: &mut Vec<u8>, out: &mut Vec<Vec<u8>>) {
            if node.count > 0 {
                out.push(path.clone());
            }
            for (b, child) in &node.children {
                path.push(*b);
                go(child, path, out);
                path.pop();
            }
        }
        let mut out = Vec::new();
        go(self, &mut Vec::new(), &mut out);
        out
    }
}

/// Topic → subscribed peers, for PUB/XPUB.
#[derive(Debug, Default)]
pub(crate) struct MTrie {
    peers: Vec<Key>,
    children: BTreeMap<u8, MTrie>,
}

impl MTrie {
    /// Subscribes `peer` to `topic`; true when `topic` had no subscriber before.
    pub(crate) fn add(&mut self, topic: &[u8], peer: Key) -> bool {
        let mut node = self;
        for b in topic {
            node = node.children.entry(*b).or_default();
        }
        let first = node.peers.is_empty();
        if !node.peers.contains(&peer) {
            node.peers.push(peer);
        }
        first
    }

    /// Unsubscribes `peer` from `topic`; true when that left the topic with no subscriber.
    pub(crate) fn rm(&mut self, topic: &[u8], peer: Key) -> bool {
        fn go(node: &mut MTrie, topic: &[u8], peer: Key) -> bool {
            match topic.split_first() {
                None => {
                    let before = node.peers.len();
                    node.peers.retain(|p| *p != peer);
                    before != node.peers.len() && node.peers.is_empty()
                }
                Some((b, rest)) => {
                    let Some(child) = node.children.get_mut(b) else {
                        return false;
                    };
                    let last = go(child, rest, peer);
                    if child.is_empty() {
                        node.children.remove(b);
                    }
                    last
                }
            }
        }
        go(self, topic, peer)
    }

    fn is_empty(&self) -> bool {
        self.peers.is_empty() && self.children.is_empty()
    }

    /// Removes `peer` everywhere; calls `orphaned` with each topic left without subscribers.
    pub(crate) fn rm_peer(&mut self, peer: Key, orphaned: &mut dyn FnMut(&[u8])) {
        fn go(node: &mut MTrie, peer: Key, path: &mut Vec<u8>, f: &mut dyn FnMut(&[u8])) {
            let before = node.peers.len();
            node.peers.retain(|p| *p != peer);
            if before != node.peers.len() && node.peers.is_empty() {
                f(path);
            }
            node.children.retain(|b, child| {
                path.push(*b);
                go(child, peer, path, f);
                path.pop();
                !child.is_empty()
            });
        }
        go(self, peer, &mut Vec::new(), orphaned);
    }

    /// Appends every peer subscribed to a prefix of `data` to `out` (deduplicated).
    pub(crate) fn matching(&self, data: &[u8], out: &mut Vec<Key>) {
        let start = out.len();
        let mut node = self;
        out.extend_from_slice(&node.peers);
        for b in data {
            match node.children.get(b) {
                Some(child) => node = child,
                None => break,
            }
            out.extend_from_slice(&node.peers);
        }
        if out.len() - start > 1 {
            out[start..].sort_unstable();
            let mut tail = out.split_off(start);
            tail.dedup();
            out.extend(tail);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slab::GenSlab;

    #[test]
    fn counted_subscriptions() {
        let mut t = SubTrie::default();
        assert!(!t.matches(b"abc"));
        assert!(t.add(b"ab"));
        assert!(!t.add(b"ab"));
        assert!(t.matches(b"abc"));
        assert!(!t.matches(b"a"));
        assert!(!t.rm(b"ab"));
        assert!(t.matches(b"abc"));
        assert!(t.rm(b"ab"));
        assert!(!t.matches(b"abc"));
        assert!(!t.rm(b"ab"), "cancel without subscription is a no-op");
        assert!(t.add(b""));
        assert!(t.matches(b""), "empty topic matches all");
        assert_eq!(t.topics(), vec![Vec::<u8>::new()]);
    }

    #[test]
    fn mtrie_matching_and_orphans() {
        let mut slab = GenSlab::default();
        let p1 = slab.insert(());
        let p2 = slab.insert(());
        let mut t = MTrie::default();
        assert!(t.add(b"A", p1));
        assert!(!t.add(b"A", p2));
        assert!(t.add(b"AB", p1));
        assert!(t.add(b"", p2));
        let mut out = Vec::new();
        t.matching(b"ABC", &mut out);
        assert_eq!(out.len(), 2);
        out.clear();
        t.matching(b"Z", &mut out);
        assert_eq!(out, vec![p2]);
        let mut orphaned = Vec::new();
        t.rm_peer(p1, &mut |topic| orphaned.push(topic.to_vec()));
        assert_eq!(orphaned, vec![b"AB".to_vec()]);
        assert!(t.rm(b"A", p2));
        assert!(!t.rm(b"A", p2));
    }
}
