//! Subscription tries (libzmq's `trie` and `mtrie`): prefix match on a message's first frame.
//!
//! [`SubTrie`] is the subscriber's own counted set (subscribe twice, cancel
//! twice). [`MTrie`] is the publisher's map from topic to the peers that
//! subscribed to it, as libzmq's `mtrie_t`. Both are one [`Trie`] with a
//! different value per topic.
//!
//! Topics come from peers, so nothing here recurses and nothing costs more than
//! the bytes it was given:
//! - the nodes live in one `Vec` (an arena) and refer to each other by index, so
//!   dropping the trie is flat and every walk is a loop over an explicit stack;
//! - a node holds a run of up to [`RUN_MAX`] bytes (a radix trie), so a topic of
//!   n bytes costs about n bytes plus one node per [`RUN_MAX`] bytes, and
//!   splitting or merging a node copies at most [`RUN_MAX`] bytes;
//! - removal prunes and merges nodes, and the arena is compacted once more than
//!   half of it is free, so memory returns when subscriptions go.

use smallvec::SmallVec;

use crate::slab::Key;

/// The longest run of bytes one node holds. Longer topics become a chain of nodes.
const RUN_MAX: usize = 4096;

/// Below this many free slots the arena is never compacted.
const COMPACT_MIN_FREE: usize = 64;

/// The root's index; the root holds the empty topic and is never freed.
const ROOT: usize = 0;

/// What a trie keeps per topic. `Default` is "nobody subscribed".
pub(crate) trait Subscribers: Default {
    /// True when nobody is subscribed to the topic.
    fn is_empty(&self) -> bool;
}

impl Subscribers for usize {
    fn is_empty(&self) -> bool {
        *self == 0
    }
}

/// The peers subscribed to one topic, each once.
type Peers = SmallVec<[Key; 2]>;

impl Subscribers for Peers {
    fn is_empty(&self) -> bool {
        SmallVec::is_empty(self)
    }
}

/// A child link: the first byte of the child's run, and the child's index.
#[derive(Debug, Clone, Copy)]
struct Child {
    byte: u8,
    node: usize,
}

/// From this many children on, a node also indexes them by first byte (256 slots), so
/// that matching takes one load per level instead of a binary search.
const DENSE: usize = 32;

/// No child in a [`Children::table`] slot (node indices never reach it).
const NO_CHILD: usize = usize::MAX;

/// A node's children: sorted by `byte`, which is unique (their runs start with
/// different bytes); with [`DENSE`] or more, also a table from byte to node.
#[derive(Debug, Default)]
struct Children {
    list: Vec<Child>,
    table: Option<Box<[usize; 256]>>,
}

impl std::ops::Deref for Children {
    type Target = [Child];
    fn deref(&self) -> &[Child] {
        &self.list
    }
}

impl Children {
    fn one(child: Child) -> Children {
        Children {
            list: vec![child],
            table: None,
        }
    }

    /// Where `byte` is (or would go) in the list.
    fn pos(&self, byte: u8) -> Result<usize, usize> {
        self.list.binary_search_by_key(&byte, |c| c.byte)
    }

    /// The child whose run starts with `byte`.
    fn get(&self, byte: u8) -> Option<usize> {
        match &self.table {
            Some(table) => Some(table[usize::from(byte)]).filter(|&n| n != NO_CHILD),
            // A few children (the common case): a scan beats a binary search.
            None if self.list.len() <= 8 => {
                self.list.iter().find(|c| c.byte == byte).map(|c| c.node)
            }
            None => self.pos(byte).ok().map(|pos| self.list[pos].node),
        }
    }

    fn insert(&mut self, pos: usize, child: Child) {
        self.list.insert(pos, child);
        match &mut self.table {
            Some(table) => table[usize::from(child.byte)] = child.node,
            None if self.list.len() >= DENSE => self.reindex(),
            None => {}
        }
    }

    fn remove(&mut self, pos: usize) {
        let child = self.list.remove(pos);
        if let Some(table) = &mut self.table {
            table[usize::from(child.byte)] = NO_CHILD;
        }
        self.shrink();
    }

    fn set_node(&mut self, pos: usize, node: usize) {
        self.list[pos].node = node;
        if let Some(table) = &mut self.table {
            table[usize::from(self.list[pos].byte)] = node;
        }
    }

    /// Keeps the children for which `keep` is true.
    fn retain(&mut self, keep: impl FnMut(&Child) -> bool) {
        let before = self.list.len();
        self.list.retain(keep);
        if self.list.len() < before {
            self.shrink();
            self.reindex();
        }
    }

    /// Renumbers every child with `f`.
    fn renumber(&mut self, mut f: impl FnMut(usize) -> usize) {
        for c in &mut self.list {
            c.node = f(c.node);
        }
        self.reindex();
    }

    /// Gives memory back after removals; drops the table below half of [`DENSE`].
    fn shrink(&mut self) {
        if self.list.len() <= self.list.capacity() / 4 {
            self.list.shrink_to_fit();
        }
        if self.list.len() < DENSE / 2 {
            self.table = None;
        }
    }

    /// Rebuilds the table (if there is or should be one) from the list.
    fn reindex(&mut self) {
        if self.table.is_none() && self.list.len() < DENSE {
            return;
        }
        let table = self.table.get_or_insert_with(|| Box::new([NO_CHILD; 256]));
        table.fill(NO_CHILD);
        for c in &self.list {
            table[usize::from(c.byte)] = c.node;
        }
    }
}

#[derive(Debug, Default)]
struct Node<V> {
    /// The bytes on the edge into this node: empty only for the root (and free slots).
    run: SmallVec<[u8; 16]>,
    children: Children,
    value: V,
}

impl<V: Subscribers> Node<V> {
    fn is_vacant(&self) -> bool {
        self.value.is_empty() && self.children.is_empty()
    }
}

/// A radix trie from topic to `V`, in an arena.
///
/// Invariants (checked by the tests): every node but the root is reachable from the
/// root, has a run of 1..=[`RUN_MAX`] bytes, and has subscribers, or two children or
/// more, or one child whose run it could not absorb without exceeding [`RUN_MAX`].
#[derive(Debug)]
pub(crate) struct Trie<V> {
    nodes: Vec<Node<V>>,
    /// Indices of vacant slots in `nodes`.
    free: Vec<usize>,
    /// [`RUN_MAX`], smaller in tests so that chains show up in short topics.
    run_max: usize,
}

impl<V: Subscribers> Default for Trie<V> {
    fn default() -> Self {
        Trie {
            nodes: vec![Node::default()],
            free: Vec::new(),
            run_max: RUN_MAX,
        }
    }
}

impl<V: Subscribers> Trie<V> {
    /// The subscribers of `topic`, creating its node if needed. The caller must leave
    /// them non-empty (a node without subscribers is pruned only by a removal).
    pub(crate) fn entry(&mut self, topic: &[u8]) -> &mut V {
        let mut n = ROOT;
        let mut rest = topic;
        while let Some(&byte) = rest.first() {
            let pos = match self.child_pos(n, byte) {
                Ok(pos) => pos,
                Err(pos) => {
                    let (head, tail) = self.chain(rest);
                    self.nodes[n]
                        .children
                        .insert(pos, Child { byte, node: head });
                    n = tail;
                    break;
                }
            };
            let c = self.nodes[n].children[pos].node;
            let run = &self.nodes[c].run;
            let common = if rest.starts_with(run) {
                run.len()
            } else {
                run.iter().zip(rest).take_while(|(a, b)| a == b).count()
            };
            if common < run.len() {
                // Split `c`: a new node `m` takes the common head, `c` keeps the tail.
                let head = SmallVec::from_slice(&run[..common]);
                let tail_byte = run[common];
                let m = self.alloc(Node {
                    run: head,
                    children: Children::one(Child {
                        byte: tail_byte,
                        node: c,
                    }),
                    value: V::default(),
                });
                let run = &mut self.nodes[c].run;
                run.drain(..common);
                run.shrink_to_fit();
                self.nodes[n].children.set_node(pos, m);
                // `c`'s run got shorter, and so did `n`'s only child if `n` is a chain link.
                let _ = self.try_merge(c);
                if !self.try_merge(n) {
                    n = m;
                }
            } else {
                n = c;
            }
            rest = &rest[common..];
        }
        &mut self.nodes[n].value
    }

    /// Applies `f` to the subscribers of `topic` if it has a node, then prunes and
    /// merges what that left empty. `None` when `topic` has no node.
    pub(crate) fn update<R>(&mut self, topic: &[u8], f: impl FnOnce(&mut V) -> R) -> Option<R> {
        let path = self.path(topic)?;
        let target = *path.last()?;
        let result = f(&mut self.nodes[target].value);
        let mut k = path.len() - 1;
        while k > 0 && self.nodes[path[k]].is_vacant() {
            self.unlink(path[k - 1], path[k]);
            k -= 1;
        }
        let _ = self.try_merge(path[k]);
        self.maybe_compact();
        Some(result)
    }

    /// Calls `visit` on every topic's subscribers, and `report` with the topic each
    /// time `visit` returned true; then prunes and merges what that left empty.
    pub(crate) fn retain(
        &mut self,
        mut visit: impl FnMut(&mut V) -> bool,
        mut report: impl FnMut(&[u8]),
    ) {
        // Post-order: a node is tidied (on its `exit` entry) after all its children.
        let mut stack = vec![(ROOT, 0usize, false)];
        let mut ancestors: Vec<usize> = Vec::new();
        let mut topic = Vec::new();
        while let Some((n, depth, exit)) = stack.pop() {
            if exit {
                self.tidy(n);
                continue;
            }
            ancestors.truncate(depth);
            ancestors.push(n);
            if visit(&mut self.nodes[n].value) {
                topic.clear();
                for &a in &ancestors {
                    topic.extend_from_slice(&self.nodes[a].run);
                }
                report(&topic);
            }
            stack.push((n, depth, true));
            stack.extend(
                self.nodes[n]
                    .children
                    .iter()
                    .rev()
                    .map(|c| (c.node, depth + 1, false)),
            );
        }
        self.maybe_compact();
    }

    /// The subscribers of every topic that is a prefix of `data`, shortest first
    /// (empty ones included: nodes that only lead somewhere).
    pub(crate) fn prefixes<'a>(&'a self, data: &'a [u8]) -> Prefixes<'a, V> {
        Prefixes {
            trie: self,
            data,
            node: Some(ROOT),
        }
    }

    /// Every topic with subscribers, in byte order, each with its subscribers.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&[u8], &V)) {
        let mut stack = vec![(ROOT, 0usize)];
        let mut topic = Vec::new();
        while let Some((n, len)) = stack.pop() {
            let node = &self.nodes[n];
            topic.truncate(len);
            topic.extend_from_slice(&node.run);
            if !node.value.is_empty() {
                f(&topic, &node.value);
            }
            let len = topic.len();
            stack.extend(node.children.iter().rev().map(|c| (c.node, len)));
        }
    }

    /// Where `byte` is (or would go) among `n`'s children.
    fn child_pos(&self, n: usize, byte: u8) -> Result<usize, usize> {
        self.nodes[n].children.pos(byte)
    }

    /// The nodes from the root to `topic`'s node, if it has one.
    fn path(&self, topic: &[u8]) -> Option<Vec<usize>> {
        let mut path = vec![ROOT];
        let mut n = ROOT;
        let mut rest = topic;
        while let Some(&byte) = rest.first() {
            n = self.nodes[n].children.get(byte)?;
            rest = rest.strip_prefix(&self.nodes[n].run[..])?;
            path.push(n);
        }
        Some(path)
    }

    /// New nodes holding `bytes` (not empty), `run_max` bytes each: (first, last).
    fn chain(&mut self, bytes: &[u8]) -> (usize, usize) {
        let mut head = None;
        let mut last: Option<usize> = None;
        for chunk in bytes.chunks(self.run_max) {
            let n = self.alloc(Node {
                run: SmallVec::from_slice(chunk),
                children: Children::default(),
                value: V::default(),
            });
            match last {
                Some(prev) => {
                    self.nodes[prev].children = Children::one(Child {
                        byte: chunk[0],
                        node: n,
                    })
                }
                None => head = Some(n),
            }
            last = Some(n);
        }
        let head = head.unwrap_or(ROOT);
        (head, last.unwrap_or(head))
    }

    fn alloc(&mut self, node: Node<V>) -> usize {
        match self.free.pop() {
            Some(n) => {
                self.nodes[n] = node;
                n
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        }
    }

    /// Releases slot `n` (its heap parts now, the slot for reuse).
    fn release(&mut self, n: usize) {
        self.nodes[n] = Node::default();
        self.free.push(n);
    }

    /// Removes child `c` from `parent` and releases it.
    fn unlink(&mut self, parent: usize, c: usize) {
        let Some(&byte) = self.nodes[c].run.first() else {
            return;
        };
        if let Ok(pos) = self.child_pos(parent, byte) {
            self.nodes[parent].children.remove(pos);
        }
        self.release(c);
    }

    /// Drops `n`'s vacant children, then merges `n` with its only child if it can.
    fn tidy(&mut self, n: usize) {
        let mut children = std::mem::take(&mut self.nodes[n].children);
        let (nodes, free) = (&mut self.nodes, &mut self.free);
        children.retain(|c| {
            let vacant = nodes[c.node].is_vacant();
            if vacant {
                nodes[c.node] = Node::default();
                free.push(c.node);
            }
            !vacant
        });
        self.nodes[n].children = children;
        let _ = self.try_merge(n);
    }

    /// Merges `n` with its only child when `n` has no subscribers and the runs fit;
    /// true when it did (`n` now holds the child's run, children and subscribers).
    fn try_merge(&mut self, n: usize) -> bool {
        let node = &self.nodes[n];
        if n == ROOT || !node.value.is_empty() || node.children.len() != 1 {
            return false;
        }
        let c = node.children[0].node;
        if node.run.len() + self.nodes[c].run.len() > self.run_max {
            return false;
        }
        let child = std::mem::take(&mut self.nodes[c]);
        self.free.push(c);
        let node = &mut self.nodes[n];
        node.run.extend_from_slice(&child.run);
        node.children = child.children;
        node.value = child.value;
        true
    }

    /// Once more than half the arena is free, moves the live nodes to a fresh one.
    fn maybe_compact(&mut self) {
        if self.free.len() < COMPACT_MIN_FREE || self.free.len() * 2 <= self.nodes.len() {
            return;
        }
        let mut old = std::mem::take(&mut self.nodes);
        let mut nodes = Vec::with_capacity(old.len() - self.free.len());
        nodes.push(std::mem::take(&mut old[ROOT]));
        let mut i = 0;
        while i < nodes.len() {
            let mut children = std::mem::take(&mut nodes[i].children);
            children.renumber(|c| {
                nodes.push(std::mem::take(&mut old[c]));
                nodes.len() - 1
            });
            nodes[i].children = children;
            i += 1;
        }
        self.nodes = nodes;
        self.free = Vec::new();
    }
}

/// Iterator over the subscribers along `data`'s path: see [`Trie::prefixes`].
#[derive(Debug)]
pub(crate) struct Prefixes<'a, V> {
    trie: &'a Trie<V>,
    data: &'a [u8],
    node: Option<usize>,
}

impl<'a, V: Subscribers> Iterator for Prefixes<'a, V> {
    type Item = &'a V;

    fn next(&mut self) -> Option<&'a V> {
        let trie = self.trie;
        let n = self.node.take()?;
        if let Some(&byte) = self.data.first() {
            if let Some(c) = trie.nodes[n].children.get(byte) {
                if let Some(rest) = self.data.strip_prefix(&trie.nodes[c].run[..]) {
                    self.data = rest;
                    self.node = Some(c);
                }
            }
        }
        Some(&trie.nodes[n].value)
    }
}

/// Counted subscriptions of one SUB/XSUB socket.
#[derive(Debug, Default)]
pub(crate) struct SubTrie(Trie<usize>);

impl SubTrie {
    /// Adds one reference to `topic`; true when it is the first.
    pub(crate) fn add(&mut self, topic: &[u8]) -> bool {
        let count = self.0.entry(topic);
        *count += 1;
        *count == 1
    }

    /// Removes one reference to `topic`; true when it was the last.
    pub(crate) fn rm(&mut self, topic: &[u8]) -> bool {
        self.0
            .update(topic, |count| match count.checked_sub(1) {
                Some(left) => {
                    *count = left;
                    left == 0
                }
                None => false,
            })
            .unwrap_or(false)
    }

    /// True when some subscribed topic is a prefix of `data`.
    pub(crate) fn matches(&self, data: &[u8]) -> bool {
        self.0.prefixes(data).any(|count| *count > 0)
    }

    /// Every subscribed topic, once each, in byte order.
    pub(crate) fn topics(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        self.0.for_each(|topic, _| out.push(topic.to_vec()));
        out
    }
}

/// Topic → subscribed peers, for PUB/XPUB.
#[derive(Debug, Default)]
pub(crate) struct MTrie(Trie<Peers>);

impl MTrie {
    /// Subscribes `peer` to `topic`; true when `topic` had no subscriber before.
    pub(crate) fn add(&mut self, topic: &[u8], peer: Key) -> bool {
        let peers = self.0.entry(topic);
        let first = peers.is_empty();
        if !peers.contains(&peer) {
            peers.push(peer);
        }
        first
    }

    /// Unsubscribes `peer` from `topic`; true when that left the topic with no subscriber.
    pub(crate) fn rm(&mut self, topic: &[u8], peer: Key) -> bool {
        self.0
            .update(topic, |peers| remove_peer(peers, peer))
            .unwrap_or(false)
    }

    /// Removes `peer` everywhere; calls `orphaned` with each topic left without subscribers.
    pub(crate) fn rm_peer(&mut self, peer: Key, orphaned: &mut dyn FnMut(&[u8])) {
        self.0.retain(|peers| remove_peer(peers, peer), orphaned);
    }

    /// Removes `peer` everywhere; calls `had` with every topic it was subscribed to.
    pub(crate) fn rm_peer_reporting_all(&mut self, peer: Key, had: &mut dyn FnMut(&[u8])) {
        self.0.retain(
            |peers| {
                let was = peers.contains(&peer);
                remove_peer(peers, peer);
                was
            },
            had,
        );
    }

    /// Appends every peer subscribed to a prefix of `data` to `out` (deduplicated).
    pub(crate) fn matching(&self, data: &[u8], out: &mut Vec<Key>) {
        let start = out.len();
        let mut sources = 0;
        for peers in self.0.prefixes(data) {
            if !peers.is_empty() {
                out.extend_from_slice(peers);
                sources += 1;
            }
        }
        // One topic's peers are distinct already; several topics may share peers.
        if sources > 1 {
            out[start..].sort_unstable();
            let mut kept = start + 1;
            for i in start + 1..out.len() {
                if out[i] != out[kept - 1] {
                    out[kept] = out[i];
                    kept += 1;
                }
            }
            out.truncate(kept);
        }
    }
}

/// Removes `peer` from `peers`; true when that emptied it.
fn remove_peer(peers: &mut Peers, peer: Key) -> bool {
    match peers.iter().position(|p| *p == peer) {
        Some(i) => {
            peers.swap_remove(i);
            peers.is_empty()
        }
        None => false,
    }
}

#[cfg(test)]
mod tests;
