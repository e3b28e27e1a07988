//! Tests of the subscription tries, against a model and on hostile topic sets.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use proptest::prelude::*;

use super::*;
use crate::slab::GenSlab;

/// Checks the structure's invariants (see [`Trie`]) and returns the number of live nodes.
fn check<V: Subscribers>(t: &Trie<V>) -> usize {
    let mut seen = vec![false; t.nodes.len()];
    let mut stack = vec![ROOT];
    let mut live = 0;
    while let Some(n) = stack.pop() {
        assert!(!seen[n], "node {n} reached twice");
        seen[n] = true;
        live += 1;
        let node = &t.nodes[n];
        if n == ROOT {
            assert!(node.run.is_empty());
        } else {
            assert!(!node.run.is_empty() && node.run.len() <= t.run_max);
            let single_unmergeable = node.children.len() == 1
                && node.run.len() + t.nodes[node.children[0].node].run.len() > t.run_max;
            assert!(
                !node.value.is_empty() || node.children.len() >= 2 || single_unmergeable,
                "node {n} should have been pruned or merged"
            );
        }
        for w in node.children.windows(2) {
            assert!(w[0].byte < w[1].byte, "children sorted, bytes unique");
        }
        for c in node.children.iter() {
            assert_eq!(t.nodes[c.node].run.first(), Some(&c.byte));
            assert_eq!(node.children.get(c.byte), Some(c.node));
            stack.push(c.node);
        }
        if let Some(table) = &node.children.table {
            assert!(node.children.len() >= DENSE / 2);
            let indexed = table.iter().filter(|&&n| n != NO_CHILD).count();
            assert_eq!(indexed, node.children.len(), "table and list agree");
        } else {
            assert!(node.children.len() < DENSE);
        }
    }
    for &f in &t.free {
        assert!(!seen[f], "free slot {f} is in the trie");
        assert!(t.nodes[f].is_vacant() && t.nodes[f].run.is_empty());
    }
    assert_eq!(
        live + t.free.len(),
        t.nodes.len(),
        "every slot live or free"
    );
    live
}

fn peers(n: usize) -> Vec<Key> {
    let mut slab = GenSlab::default();
    (0..n).map(|_| slab.insert(())).collect()
}

fn small(run_max: usize) -> Trie<Peers> {
    Trie {
        run_max,
        ..Trie::default()
    }
}

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
    assert_eq!(check(&t.0), 1, "everything but the root pruned");
}

#[test]
fn mtrie_matching_and_orphans() {
    let [p1, p2] = peers(2)[..] else {
        unreachable!()
    };
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
    check(&t.0);
}

#[test]
fn split_and_merge_restore_one_node() {
    let [p] = peers(1)[..] else { unreachable!() };
    let mut t = MTrie::default();
    t.add(b"abcdef", p);
    assert_eq!(check(&t.0), 2, "root and one node for the whole run");
    t.add(b"abc", p);
    t.add(b"abX", p);
    assert_eq!(check(&t.0), 5, "split at ab, then at abc");
    let mut out = Vec::new();
    t.matching(b"abcdefg", &mut out);
    assert_eq!(out, vec![p]);
    out.clear();
    t.matching(b"abd", &mut out);
    assert!(out.is_empty());
    t.rm(b"abc", p);
    t.rm(b"abX", p);
    assert_eq!(check(&t.0), 2, "merged back into one node");
    assert_eq!(
        t.0.nodes[t.0.nodes[ROOT].children[0].node].run.as_slice(),
        b"abcdef"
    );
}

#[test]
fn long_topics_become_chains_of_bounded_runs() {
    let [p] = peers(1)[..] else { unreachable!() };
    let mut t = MTrie::default();
    let topic = vec![b'x'; 3 * RUN_MAX + 5];
    t.add(&topic, p);
    assert_eq!(check(&t.0), 5, "root and four nodes");
    // Splitting a full run and merging it back costs at most RUN_MAX bytes, and
    // leaves the chain as it was.
    t.add(&topic[..RUN_MAX + 1], p);
    assert_eq!(check(&t.0), 6);
    t.rm(&topic[..RUN_MAX + 1], p);
    assert_eq!(check(&t.0), 5);
    let mut orphans = Vec::new();
    t.rm_peer(p, &mut |topic| orphans.push(topic.to_vec()));
    assert_eq!(orphans, vec![topic]);
    assert_eq!(check(&t.0), 1);
}

#[test]
fn memory_returns_after_removal() {
    let mut t = SubTrie::default();
    let topics: Vec<Vec<u8>> = (0u32..5000).map(|i| i.to_be_bytes().repeat(3)).collect();
    for topic in &topics {
        t.add(topic);
    }
    assert!(check(&t.0) > 5000);
    for topic in &topics {
        assert!(t.rm(topic));
    }
    assert_eq!(check(&t.0), 1);
    assert!(
        t.0.nodes.len() <= COMPACT_MIN_FREE,
        "arena compacted: {} slots",
        t.0.nodes.len()
    );
}

#[test]
fn topics_in_byte_order_and_orphans_reported_once() {
    let [p1, p2] = peers(2)[..] else {
        unreachable!()
    };
    let mut t = MTrie::default();
    for topic in [&b"b"[..], b"a", b"ab", b"", b"ba"] {
        t.add(topic, p1);
    }
    t.add(b"a", p2);
    let mut all = Vec::new();
    t.0.for_each(|topic, _| all.push(topic.to_vec()));
    assert_eq!(all, [&b""[..], b"a", b"ab", b"b", b"ba"]);
    let mut orphans = Vec::new();
    t.rm_peer(p1, &mut |topic| orphans.push(topic.to_vec()));
    assert_eq!(orphans, [&b""[..], b"ab", b"b", b"ba"]);
    let mut out = Vec::new();
    t.matching(b"abc", &mut out);
    assert_eq!(out, vec![p2]);
    assert_eq!(check(&t.0), 2);
}

#[test]
fn many_children_are_indexed_by_byte() {
    let [p] = peers(1)[..] else { unreachable!() };
    let mut t = MTrie::default();
    for b in 0..=255u8 {
        t.add(&[b, b'x'], p);
    }
    check(&t.0);
    assert!(t.0.nodes[ROOT].children.table.is_some());
    for b in 0..=255u8 {
        let mut out = Vec::new();
        t.matching(&[b, b'x', b'y'], &mut out);
        assert_eq!(out, vec![p], "byte {b}");
        out.clear();
        t.matching(&[b, b'y'], &mut out);
        assert!(out.is_empty());
    }
    for b in 0..250u8 {
        assert!(t.rm(&[b, b'x'], p));
        check(&t.0);
    }
    assert!(
        t.0.nodes[ROOT].children.table.is_none(),
        "dropped below DENSE / 2"
    );
    let mut out = Vec::new();
    t.matching(b"\xffx", &mut out);
    assert_eq!(out, vec![p]);
}

/// Adds, matches, removes, rm_peer's, lists and drops `topics` on a thread with a
/// 64 KiB stack: nothing may recurse per byte or per topic.
fn on_small_stack(topics: Vec<Vec<u8>>) {
    std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || {
            let [p1, p2] = peers(2)[..] else {
                unreachable!()
            };
            let longest = topics.iter().map(Vec::len).max().unwrap_or(0);
            let mut probe = vec![b'a'; longest];
            probe.push(b'!');

            let mut s = SubTrie::default();
            let mut m = MTrie::default();
            for topic in &topics {
                assert!(s.add(topic));
                assert!(m.add(topic, p1));
            }
            assert!(s.matches(&probe));
            let mut out = Vec::new();
            m.matching(&probe, &mut out);
            assert_eq!(out, vec![p1]);
            assert_eq!(s.topics().len(), topics.len());
            for topic in &topics {
                assert!(s.rm(topic));
                assert!(m.rm(topic, p1));
            }
            assert!(!s.matches(&probe));
            for topic in &topics {
                s.add(topic);
                m.add(topic, p1);
                m.add(topic, p2);
            }
            let mut orphans = 0;
            m.rm_peer(p1, &mut |_| orphans += 1);
            assert_eq!(orphans, 0, "p2 still subscribed");
            m.rm_peer(p2, &mut |_| orphans += 1);
            assert_eq!(orphans, topics.len());
            assert_eq!(check(&m.0), 1);
            for topic in &topics {
                m.add(topic, p2);
            }
            check(&s.0);
            check(&m.0);
            drop(s);
            drop(m);
        })
        .expect("spawn")
        .join()
        .expect("no stack overflow");
}

#[test]
fn one_mib_topic_on_a_small_stack() {
    on_small_stack(vec![vec![b'a'; 1 << 20]]);
}

/// A node per topic, 3,000 deep: a walk that recursed per node would need far more than
/// 64 KiB of stack. (Nested topics cost the square of their count in bytes, so 10,000
/// of them, 50 MB, take minutes in a debug build.)
#[test]
fn three_thousand_nested_topics_on_a_small_stack() {
    on_small_stack((1..=3_000).map(|n| vec![b'a'; n]).collect());
}

/// Bytes the trie holds on the heap (not counting the allocator's own overhead).
fn heap_bytes<V: Subscribers>(t: &Trie<V>, value_heap: impl Fn(&V) -> usize) -> usize {
    let mut bytes = t.nodes.capacity() * std::mem::size_of::<Node<V>>()
        + t.free.capacity() * std::mem::size_of::<usize>();
    for node in &t.nodes {
        if node.run.spilled() {
            bytes += node.run.capacity();
        }
        bytes += node.children.list.capacity() * std::mem::size_of::<Child>()
            + node.children.table.as_ref().map_or(0, |_| 256 * 8)
            + value_heap(&node.value);
    }
    bytes
}

fn peers_heap(p: &Peers) -> usize {
    if p.spilled() {
        p.capacity() * std::mem::size_of::<Key>()
    } else {
        0
    }
}

/// The trie's own size per subscription, as the README reports it:
/// `cargo test -p zmq-async --release --lib trie::tests::bytes_per_subscription -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, not a test"]
fn bytes_per_subscription() {
    let [p] = peers(1)[..] else { unreachable!() };
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let count = 200_000;
    let mut t = MTrie::default();
    let mut s = SubTrie::default();
    for _ in 0..count {
        let mut topic = [0u8; 16];
        topic[..8].copy_from_slice(&next().to_le_bytes());
        topic[8..].copy_from_slice(&next().to_le_bytes());
        assert!(t.add(&topic, p));
        assert!(s.add(&topic));
    }
    let m = heap_bytes(&t.0, peers_heap);
    let c = heap_bytes(&s.0, |_| 0);
    println!(
        "{count} random 16-byte topics: MTrie {m} B ({:.0} B/subscription), SubTrie {c} B ({:.0} B/subscription), {} nodes",
        m as f64 / count as f64,
        c as f64 / count as f64,
        check(&t.0),
    );
    let mut t = MTrie::default();
    t.add(&vec![0x5a; 1 << 20], p);
    let m = heap_bytes(&t.0, peers_heap);
    println!(
        "one 1 MiB topic: MTrie {m} B ({:.3} B per topic byte)",
        m as f64 / (1 << 20) as f64
    );
}

/// Time per `MTrie::matching` call, as the PUB send path makes it:
/// `cargo test -p zmq-async --release --lib trie::tests::matching_speed -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, not a test"]
fn matching_speed() {
    let mut slab = GenSlab::default();
    let keys: Vec<_> = (0..8).map(|_| slab.insert(())).collect();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // (name, topics, message)
    type Case = (&'static str, Vec<Vec<u8>>, Vec<u8>);
    let cases: Vec<Case> = vec![
        (
            "empty topic, 1 peer",
            vec![b"".to_vec()],
            b"news: hello world 0123456789".to_vec(),
        ),
        (
            "1 topic hit",
            vec![b"news".to_vec()],
            b"news: hello world 0123456789".to_vec(),
        ),
        (
            "1 topic miss",
            vec![b"news".to_vec()],
            b"weather: hello world 01234567".to_vec(),
        ),
        (
            "10 topics hit",
            (0..10).map(|i| format!("topic-{i}").into_bytes()).collect(),
            b"topic-7 hello world".to_vec(),
        ),
        (
            "10 topics miss",
            (0..10).map(|i| format!("topic-{i}").into_bytes()).collect(),
            b"topiX-7 hello world".to_vec(),
        ),
        (
            "1000 random 16B, hit",
            (0..1000)
                .map(|i| {
                    let mut t = next().to_le_bytes().to_vec();
                    t.extend(next().to_le_bytes());
                    if i == 500 {
                        t = b"0123456789abcdef".to_vec()
                    }
                    t
                })
                .collect(),
            b"0123456789abcdef and payload".to_vec(),
        ),
        (
            "1000 random 16B, miss",
            (0..1000)
                .map(|_| {
                    let mut t = next().to_le_bytes().to_vec();
                    t.extend(next().to_le_bytes());
                    t
                })
                .collect(),
            b"0123456789abcdef and payload".to_vec(),
        ),
    ];
    for (name, topics, msg) in cases {
        let mut t = MTrie::default();
        for (i, topic) in topics.iter().enumerate() {
            t.add(topic, keys[i % keys.len()]);
        }
        let mut out = Vec::new();
        let n = 5_000_000;
        let start = Instant::now();
        let mut total = 0;
        for _ in 0..n {
            out.clear();
            t.matching(std::hint::black_box(&msg), &mut out);
            total += out.len();
        }
        let ns = start.elapsed().as_nanos() as f64 / n as f64;
        println!("{name:<24} {ns:6.1} ns/match ({total})");
    }
}

/// One step of the model test.
#[derive(Debug, Clone)]
enum Op {
    Add(Vec<u8>, usize),
    Rm(Vec<u8>, usize),
    RmPeer(usize),
    Match(Vec<u8>),
}

/// Topics over a two-letter alphabet so that prefixes collide, often longer than a
/// node's run (run_max is 1..=4 in the model tests); a third of them start with one of 64
/// bytes instead, so that the root's children cross [`DENSE`] both ways.
fn topic() -> impl Strategy<Value = Vec<u8>> {
    let narrow = prop::collection::vec(prop::sample::select(vec![b'a', b'b']), 0..9);
    prop_oneof![
        2 => narrow.clone(),
        1 => (0..64u8, narrow).prop_map(|(first, mut rest)| {
            rest.insert(0, first);
            rest
        }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (topic(), 0..3usize).prop_map(|(t, p)| Op::Add(t, p)),
        3 => (topic(), 0..3usize).prop_map(|(t, p)| Op::Rm(t, p)),
        1 => (0..3usize).prop_map(Op::RmPeer),
        3 => topic().prop_map(Op::Match),
    ]
}

/// Steps, sometimes a burst of 40 subscriptions with different first bytes, so that
/// the root's children cross [`DENSE`] up and (by removals) down.
fn ops() -> impl Strategy<Value = Vec<Op>> {
    let burst = (
        0..3usize,
        prop::collection::vec(prop::sample::select(vec![b'a', b'b']), 0..3),
    )
        .prop_map(|(p, tail)| {
            (0..40u8)
                .map(|b| {
                    let mut t = vec![b];
                    t.extend_from_slice(&tail);
                    Op::Add(t, p)
                })
                .collect::<Vec<_>>()
        });
    prop::collection::vec(
        prop_oneof![20 => op().prop_map(|o| vec![o]), 1 => burst],
        1..200,
    )
    .prop_map(|steps| steps.into_iter().flatten().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mtrie_agrees_with_a_map(ops in ops(), run_max in 1..5usize) {
        let keys = peers(3);
        let mut t = MTrie(small(run_max));
        let mut model: HashMap<Vec<u8>, BTreeSet<usize>> = HashMap::new();
        for op in ops {
            match op {
                Op::Add(topic, p) => {
                    let set = model.entry(topic.clone()).or_default();
                    let first = set.is_empty();
                    set.insert(p);
                    prop_assert_eq!(t.add(&topic, keys[p]), first);
                }
                Op::Rm(topic, p) => {
                    let set = model.entry(topic.clone()).or_default();
                    let last = set.remove(&p) && set.is_empty();
                    prop_assert_eq!(t.rm(&topic, keys[p]), last);
                }
                Op::RmPeer(p) => {
                    let mut expected: Vec<Vec<u8>> = Vec::new();
                    for (topic, set) in &mut model {
                        if set.remove(&p) && set.is_empty() {
                            expected.push(topic.clone());
                        }
                    }
                    expected.sort();
                    let mut orphans = Vec::new();
                    t.rm_peer(keys[p], &mut |topic| orphans.push(topic.to_vec()));
                    prop_assert_eq!(orphans, expected, "byte order, each once");
                }
                Op::Match(data) => {
                    let expected: BTreeSet<Key> = model
                        .iter()
                        .filter(|(topic, _)| data.starts_with(topic))
                        .flat_map(|(_, set)| set.iter().map(|&p| keys[p]))
                        .collect();
                    let mut out = Vec::new();
                    t.matching(&data, &mut out);
                    prop_assert_eq!(out.len(), expected.len(), "no duplicates");
                    prop_assert_eq!(out.into_iter().collect::<BTreeSet<_>>(), expected);
                }
            }
            check(&t.0);
        }
        let mut all = BTreeMap::new();
        t.0.for_each(|topic, peers| {
            all.insert(topic.to_vec(), peers.iter().copied().collect::<BTreeSet<_>>());
        });
        let expected: BTreeMap<Vec<u8>, BTreeSet<Key>> = model
            .into_iter()
            .filter(|(_, set)| !set.is_empty())
            .map(|(topic, set)| (topic, set.into_iter().map(|p| keys[p]).collect()))
            .collect();
        prop_assert_eq!(all, expected);
    }

    #[test]
    fn subtrie_agrees_with_a_map(ops in ops(), run_max in 1..5usize) {
        let mut t = SubTrie(Trie { run_max, ..Trie::default() });
        let mut model: HashMap<Vec<u8>, usize> = HashMap::new();
        for op in ops {
            match op {
                Op::Add(topic, _) => {
                    let count = model.entry(topic.clone()).or_default();
                    *count += 1;
                    prop_assert_eq!(t.add(&topic), *count == 1);
                }
                Op::Rm(topic, _) => {
                    let count = model.entry(topic.clone()).or_default();
                    let last = *count == 1;
                    *count = count.saturating_sub(1);
                    prop_assert_eq!(t.rm(&topic), last);
                }
                Op::RmPeer(_) => {
                    let mut expected: Vec<Vec<u8>> = model
                        .iter()
                        .filter(|(_, c)| **c > 0)
                        .map(|(topic, _)| topic.clone())
                        .collect();
                    expected.sort();
                    prop_assert_eq!(t.topics(), expected);
                }
                Op::Match(data) => {
                    let expected = model.iter().any(|(topic, c)| *c > 0 && data.starts_with(topic));
                    prop_assert_eq!(t.matches(&data), expected);
                }
            }
            check(&t.0);
        }
    }
}
