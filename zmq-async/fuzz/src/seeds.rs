//! The committed seeds: small scripts that walk each target through its main paths, built
//! with [`Writer`] so that they stay readable (see `tests/seeds.rs`).
//!
//! Op bytes are `slot << 4 | op` for the socket targets (the op numbers are in each
//! target's `run`).

use crate::input::Writer;

/// Every seed: `(target, file name, bytes)`.
pub fn all() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let mut all = Vec::new();
    for (name, w) in trie() {
        all.push(("trie", name, w.out));
    }
    for (name, w) in pubsub() {
        all.push(("pubsub", name, w.out));
    }
    for (name, w) in router() {
        all.push(("router", name, w.out));
    }
    for (name, w) in dealer() {
        all.push(("dealer", name, w.out));
    }
    for (name, w) in sub() {
        all.push(("sub", name, w.out));
    }
    all
}

/// Inputs that crashed the recursive tries of the time this crate was written (a stack
/// overflow on a socket's 2 MiB stack, a Tokio worker's); `regressions/` holds them.
pub fn long_topic_regressions() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let mut w = Writer::new();
    // SubTrie: add a 64 KiB topic, cancel it, then the same through the MTrie.
    w.u8(0).long(0, 64, b'x').u8(1).earlier(0);
    w.u8(4).u8(1).earlier(0).u8(6).u8(1);
    let trie = w.out;
    let mut w = Writer::new();
    // XPUB: a SUB subscribes to a 64 KiB topic, a message is published on it, the peer
    // detaches (the topic is orphaned and reported).
    w.u8(1).u8(0).u8(0);
    w.u8(0x00).u8(0).u8(0x05).long(0, 64, b'y');
    w.u8(0x0b)
        .extended(0, b"!")
        .u8(0x09)
        .u8(0x04)
        .u8(0x0d)
        .u8(0x0d)
        .u8(0x0f);
    let pubsub = w.out;
    vec![
        ("trie", "long-topic-64k", trie),
        ("pubsub", "long-topic-orphaned", pubsub),
    ]
}

fn trie() -> Vec<(&'static str, Writer)> {
    let mut nested = Writer::new();
    nested
        .u8(0)
        .topic(b"a")
        .u8(0)
        .extended(0, b"b")
        .u8(0)
        .earlier(1); // a, ab, ab
    nested.u8(2).topic(b"abc").u8(2).topic(b"b").u8(3);
    nested
        .u8(1)
        .earlier(1)
        .u8(2)
        .topic(b"abz")
        .u8(1)
        .earlier(1)
        .u8(1)
        .earlier(0);
    nested
        .u8(0)
        .topic(b"")
        .u8(2)
        .topic(b"zz")
        .u8(3)
        .u8(1)
        .earlier(6);
    let mut mtrie = Writer::new();
    mtrie
        .u8(4)
        .u8(0)
        .topic(b"A")
        .u8(4)
        .u8(1)
        .earlier(0)
        .u8(4)
        .u8(0)
        .extended(0, b"B");
    mtrie
        .u8(4)
        .u8(2)
        .topic(b"")
        .u8(7)
        .topic(b"ABC")
        .u8(7)
        .topic(b"Z");
    mtrie
        .u8(6)
        .u8(0)
        .u8(5)
        .u8(1)
        .earlier(0)
        .u8(5)
        .u8(1)
        .earlier(0)
        .u8(3);
    mtrie.u8(4).u8(0).topic(b"A").u8(6).u8(2).u8(7).topic(b"A");
    let mut prefixes = Writer::new();
    prefixes
        .u8(0)
        .topic(b"hello world")
        .u8(0)
        .u8(0x80)
        .u8(0)
        .u16(5)
        .u8(2)
        .u8(0x80)
        .u8(0)
        .u16(3);
    prefixes
        .u8(4)
        .u8(3)
        .extended(0, b"and more")
        .u8(7)
        .earlier(2)
        .u8(3)
        .u8(6)
        .u8(3);
    vec![("nested", nested), ("mtrie", mtrie), ("prefixes", prefixes)]
}

fn pubsub() -> Vec<(&'static str, Writer)> {
    let mut xpub = Writer::new();
    xpub.u8(1).u8(0).u8(0); // XPUB, unlimited HWMs
    xpub.u8(0x00).u8(0).u8(0x10).u8(1); // two peers (SUB, XSUB)
    xpub.u8(0x05)
        .topic(b"ab")
        .u8(0x15)
        .topic(b"a")
        .u8(0x15)
        .earlier(0);
    xpub.u8(0x0b).topic(b"abc").u8(0x0c).topic(b"b");
    xpub.u8(0x09).u8(0x19).u8(0x0d).u8(0x0d).u8(0x0d);
    xpub.u8(0x07)
        .topic(b"ab")
        .u8(0x18)
        .u8(2)
        .u8(1)
        .u8(0x14)
        .u8(0x0d)
        .u8(0x0d)
        .u8(0x0d)
        .u8(0x0f);
    let mut verbose = Writer::new();
    verbose.u8(3).u8(2).u8(2); // XPUB verbose, HWM 2
    verbose.u8(0x01).u8(0x10).u8(0).u8(0x02).u8(1); // attach, attach+handshake, late handshake
    verbose
        .u8(0x05)
        .topic(b"t")
        .u8(0x15)
        .earlier(0)
        .u8(0x15)
        .extended(0, b"u");
    verbose.u8(0x0d).u8(0x0d).u8(0x0d).u8(0x0d);
    for _ in 0..3 {
        verbose.u8(0x0b).extended(1, b"v");
    }
    verbose
        .u8(0x0a)
        .u8(0)
        .u8(0x09)
        .u8(0x19)
        .u8(0x03)
        .u8(0x02)
        .u8(0)
        .u8(0x12)
        .u8(3);
    verbose.u8(0x0d).u8(0x0d).u8(0x0f);
    let mut publisher = Writer::new();
    publisher.u8(0).u8(1).u8(1); // PUB, HWM 1
    publisher
        .u8(0x00)
        .u8(0)
        .u8(0x05)
        .topic(b"")
        .u8(0x08)
        .u8(2)
        .u8(0);
    publisher
        .u8(0x0b)
        .topic(b"x")
        .u8(0x0b)
        .topic(b"y")
        .u8(0x09)
        .u8(0x0b)
        .topic(b"z")
        .u8(0x09);
    publisher.u8(0x10).u8(3).u8(0x0f).u8(0x04).u8(0x0f);
    vec![
        ("xpub", xpub),
        ("xpub-verbose", verbose),
        ("pub", publisher),
    ]
}

fn router() -> Vec<(&'static str, Writer)> {
    let mut ids = Writer::new();
    ids.u8(0).u8(0).u8(0); // no options, unlimited HWMs
    ids.u8(0x01)
        .u8(0)
        .u8(2)
        .u8(0x11)
        .u8(20)
        .u8(2)
        .u8(0x21)
        .u8(5)
        .u8(2); // A, auto, B
    ids.u8(0x06).u8(0).u8(0x16).u8(1).u8(0x26).u8(2);
    ids.u8(0x0c).u8(0x0c).u8(0x0c).u8(0x0c);
    ids.u8(0x0a)
        .u8(0)
        .u8(0)
        .u8(0x1a)
        .u8(4)
        .u8(1)
        .u8(0x0a)
        .u8(1)
        .u8(0)
        .u8(0x0a)
        .u8(6)
        .u8(0);
    ids.u8(0x0a).u8(7).u8(0).u8(0x08).u8(0x18).u8(0x28).u8(0x0f);
    let mut mandatory = Writer::new();
    mandatory.u8(1).u8(1).u8(1); // router_mandatory, HWM 1
    mandatory.u8(0x01).u8(0).u8(2);
    mandatory
        .u8(0x0a)
        .u8(0)
        .u8(0)
        .u8(0x0a)
        .u8(0)
        .u8(0)
        .u8(0x0a)
        .u8(6)
        .u8(0);
    mandatory
        .u8(0x09)
        .u8(1)
        .u8(0x0a)
        .u8(0)
        .u8(0)
        .u8(0x06)
        .u8(0)
        .u8(0x06)
        .u8(0);
    mandatory
        .u8(0x05)
        .u8(0x0a)
        .u8(0)
        .u8(0)
        .u8(0x0c)
        .u8(0x0c)
        .u8(0x0c)
        .u8(0x0f);
    let mut duplicate = Writer::new();
    duplicate.u8(0).u8(0).u8(0);
    duplicate
        .u8(0x01)
        .u8(0)
        .u8(2)
        .u8(0x11)
        .u8(0)
        .u8(2)
        .u8(0x06)
        .u8(0)
        .u8(0x16)
        .u8(0);
    duplicate
        .u8(0x0c)
        .u8(0x0c)
        .u8(0x0a)
        .u8(0)
        .u8(0)
        .u8(0x08)
        .u8(0x18)
        .u8(0x0f);
    duplicate
        .u8(0x05)
        .u8(0x0c)
        .u8(0x0f)
        .u8(0x21)
        .u8(0)
        .u8(2)
        .u8(0x0f);
    let mut handover = Writer::new();
    handover.u8(2).u8(0).u8(0);
    handover
        .u8(0x01)
        .u8(0)
        .u8(2)
        .u8(0x06)
        .u8(0)
        .u8(0x11)
        .u8(0)
        .u8(2)
        .u8(0x16)
        .u8(0);
    handover
        .u8(0x0c)
        .u8(0x0c)
        .u8(0x0a)
        .u8(0)
        .u8(0)
        .u8(0x08)
        .u8(0x18)
        .u8(0x06)
        .u8(0)
        .u8(0x0f);
    let mut rename = Writer::new();
    rename.u8(0).u8(2).u8(2);
    rename
        .u8(0x00)
        .u8(0)
        .u8(2)
        .u8(0x04)
        .u8(0)
        .u8(0x06)
        .u8(0)
        .u8(0x0c);
    rename
        .u8(0x03)
        .u8(5)
        .u8(0x0a)
        .u8(0)
        .u8(0)
        .u8(0x0a)
        .u8(1)
        .u8(0)
        .u8(0x08);
    rename
        .u8(0x11)
        .u8(0)
        .u8(0)
        .u8(0x1a)
        .u8(3)
        .u8(0)
        .u8(0x18)
        .u8(0x14)
        .u8(4)
        .u8(0x0c)
        .u8(0x0f);
    vec![
        ("ids", ids),
        ("mandatory", mandatory),
        ("duplicate", duplicate),
        ("handover", handover),
        ("rename-alias", rename),
    ]
}

fn dealer() -> Vec<(&'static str, Writer)> {
    let mut rr = Writer::new();
    rr.u8(2).u8(2); // HWMs 2
    rr.u8(0x00).u8(0).u8(0x10).u8(1).u8(0x20).u8(2);
    for _ in 0..7 {
        rr.u8(0x09).u8(1);
    }
    rr.u8(0x07).u8(0x08).u8(1).u8(0x09).u8(0).u8(0x17).u8(0x27);
    for s in 0..3u8 {
        rr.u8(s << 4 | 5).u8(2).u8(s << 4 | 5).u8(0);
    }
    for _ in 0..7 {
        rr.u8(0x0b);
    }
    rr.u8(0x0e);
    let mut detach = Writer::new();
    detach.u8(0).u8(1); // unlimited out, HWM 1 in
    detach
        .u8(0x00)
        .u8(0)
        .u8(0x11)
        .u8(0x05)
        .u8(0)
        .u8(0x05)
        .u8(0)
        .u8(0x15)
        .u8(3);
    detach
        .u8(0x04)
        .u8(0x0e)
        .u8(0x0b)
        .u8(0x0e)
        .u8(0x0b)
        .u8(0x0b)
        .u8(0x0e);
    detach
        .u8(0x12)
        .u8(4)
        .u8(0x0e)
        .u8(0x00)
        .u8(4)
        .u8(0x09)
        .u8(0)
        .u8(0x0e);
    detach
        .u8(0x10)
        .u8(0)
        .u8(0x13)
        .u8(0x12)
        .u8(3)
        .u8(0x09)
        .u8(0)
        .u8(0x17);
    vec![("round-robin", rr), ("detach-refuse", detach)]
}

fn sub() -> Vec<(&'static str, Writer)> {
    let mut subscriber = Writer::new();
    subscriber.u8(0).u8(0).u8(2); // SUB, HWM in 2
    subscriber
        .u8(0x09)
        .topic(b"a")
        .u8(0x00)
        .u8(0)
        .u8(0x11)
        .u8(1); // subscribe, then two peers
    subscriber
        .u8(0x09)
        .extended(0, b"b")
        .u8(0x09)
        .earlier(0)
        .u8(0x0b)
        .earlier(0);
    subscriber
        .u8(0x05)
        .topic(b"abc")
        .u8(0x15)
        .topic(b"zzz")
        .u8(0x05)
        .topic(b"a");
    subscriber.u8(0x0d).u8(0x0d).u8(0x0d).u8(0x07).u8(0x17);
    subscriber
        .u8(0x13)
        .u8(0)
        .u8(0x0b)
        .earlier(0)
        .u8(0x0d)
        .u8(0x17)
        .u8(0x07);
    subscriber.u8(0x14).u8(0x20).u8(3).u8(0x0d).u8(0x27);
    let mut xsub = Writer::new();
    xsub.u8(1).u8(1).u8(0); // XSUB, HWM out 1
    xsub.u8(0x00)
        .u8(1)
        .u8(0x0a)
        .topic(b"")
        .u8(0x0c)
        .u8(0)
        .u8(0x0c)
        .u8(2);
    xsub.u8(0x08)
        .u8(0)
        .u8(0x07)
        .u8(0x05)
        .topic(b"x")
        .u8(0x06)
        .topic(b"y")
        .u8(0x04);
    xsub.u8(0x0d)
        .u8(0x0d)
        .u8(0x0d)
        .u8(0x10)
        .u8(0)
        .u8(0x1b)
        .earlier(0)
        .u8(0x17);
    let mut reconnect = Writer::new();
    reconnect.u8(0).u8(0).u8(0); // SUB, no HWMs
    reconnect
        .u8(0x00)
        .u8(0) // a PUB, handshake at once
        .u8(0x09)
        .topic(b"a")
        .u8(0x09)
        .topic(b"b")
        .u8(0x09)
        .topic(b"c");
    // The peer reads one: the subscribes to b and c are taken, not sent. The user cancels
    // b, the peer reconnects and must end up holding a and c, not b.
    reconnect.u8(0x08).u8(0).u8(0x0b).topic(b"b").u8(0x03).u8(0);
    reconnect.u8(0x0d).u8(0x07);
    // A cancel taken for the old connection, then the topic subscribed again.
    reconnect
        .u8(0x09)
        .topic(b"d")
        .u8(0x0b)
        .topic(b"d")
        .u8(0x08)
        .u8(0)
        .u8(0x09)
        .topic(b"d")
        .u8(0x03)
        .u8(0)
        .u8(0x0d)
        .u8(0x07);
    vec![
        ("sub", subscriber),
        ("xsub", xsub),
        ("reconnect-taken", reconnect),
    ]
}
