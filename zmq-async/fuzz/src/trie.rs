//! The subscription tries against maps of topics.
//!
//! The input is a script of operations on a `SubTrie` (a subscriber's counted topics) and
//! an `MTrie` (a publisher's topic → peers map), over topics [`Input::topic`] builds: short,
//! repeated, nested, prefixes, and long (up to [`MAX_TOPIC`](crate::input::MAX_TOPIC)
//! bytes: deep tries). Every answer is checked against a `HashMap`:
//!
//! - `SubTrie::add` is first exactly when the count was 0, `rm` last exactly when it was 1
//!   (and a cancel of what is not subscribed changes nothing); `matches` is true exactly when
//!   a subscribed topic is a prefix of the data; `topics` lists each subscribed topic once.
//! - `MTrie::add` is first exactly when no peer had the topic; `rm` last exactly when the
//!   peer was its only subscriber; `rm_peer` reports exactly the topics it was the last
//!   subscriber of, once each; `matching` gives exactly the peers with a subscription that
//!   is a prefix of the data, once each.
//!
//! The script runs on a thread with a socket's stack ([`on_socket_stack`]), the tries are
//! dropped there too: a trie that recurses once per topic byte overflows it.

use std::collections::{BTreeSet, HashMap};

use zmq_async::fuzzing::{MTrie, SubTrie};

use crate::harness::on_socket_stack;
use crate::input::Input;

/// Operations of a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    /// `SubTrie::add(topic)`.
    Add = 0,
    /// `SubTrie::rm(topic)`.
    Rm,
    /// `SubTrie::matches(topic)`.
    Matches,
    /// `SubTrie::topics()` and `MTrie::matching` of every subscribed topic.
    Topics,
    /// `MTrie::add(topic, peer)`.
    MAdd,
    /// `MTrie::rm(topic, peer)`.
    MRm,
    /// `MTrie::rm_peer(peer)`.
    MRmPeer,
    /// `MTrie::matching(topic)`.
    MMatching,
}

const OPS: u8 = 8;

/// How many peers the `MTrie` scripts name.
const PEERS: u8 = 8;

/// Runs one script.
pub fn run(data: &[u8]) {
    on_socket_stack(|| script(data));
}

fn script(data: &[u8]) {
    let mut input = Input::new(data);
    let mut sub = SubTrie::default();
    let mut sub_model: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut m = MTrie::default();
    let mut m_model: HashMap<Vec<u8>, BTreeSet<u32>> = HashMap::new();
    while !input.is_empty() {
        let op = input.u8() % OPS;
        match op {
            op if op == Op::Add as u8 => {
                let t = input.topic();
                let count = sub_model.entry(t.clone()).or_default();
                *count += 1;
                assert_eq!(
                    sub.add(&t),
                    *count == 1,
                    "SubTrie::add: first? ({} bytes)",
                    t.len()
                );
            }
            op if op == Op::Rm as u8 => {
                let t = input.topic();
                let count = sub_model.get(&t).copied().unwrap_or(0);
                assert_eq!(
                    sub.rm(&t),
                    count == 1,
                    "SubTrie::rm: last? ({} bytes)",
                    t.len()
                );
                match count {
                    0 => {}
                    1 => {
                        sub_model.remove(&t);
                    }
                    _ => *sub_model.entry(t).or_default() -= 1,
                }
            }
            op if op == Op::Matches as u8 => {
                let t = input.topic();
                let expected = sub_model.keys().any(|k| t.starts_with(k));
                assert_eq!(
                    sub.matches(&t),
                    expected,
                    "SubTrie::matches ({} bytes)",
                    t.len()
                );
            }
            op if op == Op::Topics as u8 => {
                let mut got = sub.topics();
                got.sort();
                let mut expected: Vec<Vec<u8>> = sub_model.keys().cloned().collect();
                expected.sort();
                assert!(
                    got == expected,
                    "SubTrie::topics: {} topics, expected {}",
                    got.len(),
                    expected.len()
                );
                for t in m_model.keys() {
                    check_matching(&m, &m_model, t);
                }
            }
            op if op == Op::MAdd as u8 => {
                let peer = u32::from(input.u8() % PEERS);
                let t = input.topic();
                let peers = m_model.entry(t.clone()).or_default();
                let first = peers.is_empty();
                peers.insert(peer);
                assert_eq!(
                    m.add(&t, peer),
                    first,
                    "MTrie::add: first? ({} bytes)",
                    t.len()
                );
            }
            op if op == Op::MRm as u8 => {
                let peer = u32::from(input.u8() % PEERS);
                let t = input.topic();
                let last = m_model
                    .get_mut(&t)
                    .is_some_and(|peers| peers.remove(&peer) && peers.is_empty());
                if m_model.get(&t).is_some_and(BTreeSet::is_empty) {
                    m_model.remove(&t);
                }
                assert_eq!(m.rm(&t, peer), last, "MTrie::rm: last? ({} bytes)", t.len());
            }
            op if op == Op::MRmPeer as u8 => {
                let peer = u32::from(input.u8() % PEERS);
                let mut expected: Vec<Vec<u8>> = m_model
                    .iter()
                    .filter(|(_, peers)| peers.len() == 1 && peers.contains(&peer))
                    .map(|(t, _)| t.clone())
                    .collect();
                m_model.retain(|_, peers| {
                    peers.remove(&peer);
                    !peers.is_empty()
                });
                let mut got = Vec::new();
                m.rm_peer(peer, &mut |t| got.push(t.to_vec()));
                got.sort();
                expected.sort();
                assert!(
                    got == expected,
                    "MTrie::rm_peer: {} orphans reported, expected {}",
                    got.len(),
                    expected.len()
                );
            }
            _ => {
                let t = input.topic();
                check_matching(&m, &m_model, &t);
            }
        }
    }
}

fn check_matching(m: &MTrie, model: &HashMap<Vec<u8>, BTreeSet<u32>>, data: &[u8]) {
    let mut got = m.matching(data);
    got.sort_unstable();
    let n = got.len();
    got.dedup();
    assert_eq!(n, got.len(), "MTrie::matching gave a peer twice");
    let expected: BTreeSet<u32> = model
        .iter()
        .filter(|(t, _)| data.starts_with(t))
        .flat_map(|(_, peers)| peers.iter().copied())
        .collect();
    assert_eq!(
        got,
        expected.into_iter().collect::<Vec<_>>(),
        "MTrie::matching ({} bytes)",
        data.len()
    );
}
