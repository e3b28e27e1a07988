//! STREAM against libzmq 4.3.4's STREAM (standard there, not draft): raw bytes both ways, no
//! ZMTP on the wire.
//!
//! Cells: `stream::<ours_binds|ours_connects>::<tcp|ipc>::<ours_closes|libzmq_closes>`. In
//! each, both ends get the connect notification (`[routing id, empty]`), bytes go both ways
//! (more than one read's worth, reassembled in order), one end closes the connection by
//! sending `[routing id, empty]` and the other gets the disconnect notification; when the
//! closing end is the one that bound, the connecting end reconnects, both get a connect
//! notification again, and the connecting end's routing id is the one it had (as libzmq).
//! `stream::connect_routing_id::<tcp|ipc>`: our `connect_routing_id` names our peer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;

use crate::side::{frames, Frames, Impl, Kind, Setup, Side, Transport};

/// Bytes per direction: several reads' worth (a read is at most 8 KiB on both sides).
const DATA: usize = 100_000;

fn pattern(n: usize, salt: u8) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8 ^ salt).collect()
}

/// The next message, which must be a notification; returns its routing id.
async fn notification(side: &mut Side) -> Vec<u8> {
    let m = side.recv().await;
    assert_eq!(m.len(), 2, "{:?}: {m:?}", side.kind());
    assert!(m[1].is_empty(), "{:?}: expected a notification", side);
    m[0].clone()
}

/// Receives `n` bytes from `id`, in whatever pieces they come.
async fn receive(side: &mut Side, id: &[u8], n: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < n {
        let m = side.recv().await;
        assert_eq!(m.len(), 2);
        assert_eq!(m[0], id, "bytes from another peer");
        assert!(!m[1].is_empty(), "a notification amid the bytes");
        got.extend_from_slice(&m[1]);
    }
    got
}

/// One cell: `ours_binds` says who binds, `ours_closes` who closes.
pub async fn exchange(ours_binds: bool, ours_closes: bool, t: Transport) {
    let setup = Setup::default();
    let mut ours = Side::new(Impl::Ours, Kind::Stream, &setup);
    let mut lib = Side::new(Impl::Libzmq, Kind::Stream, &setup);
    let bound = if ours_binds {
        let b = ours.bind(t).await;
        lib.connect(&b.endpoint).await;
        b
    } else {
        let b = lib.bind(t).await;
        ours.connect(&b.endpoint).await;
        b
    };
    // Both ends hear of the connection (a bound libzmq socket only while in a call: the two
    // scripts run concurrently).
    let (id_o, id_l) = tokio::join!(notification(&mut ours), notification(&mut lib));
    assert_eq!(id_o.len(), 5, "our generated id");
    assert_eq!(id_o[0], 0);

    let (to_lib, to_ours) = (pattern(DATA, 1), pattern(DATA, 2));
    let (got_lib, got_ours) = tokio::join!(
        async {
            lib.send(vec![id_l.clone(), to_ours.clone()]).await;
            receive(&mut lib, &id_l, DATA).await
        },
        async {
            ours.send(vec![id_o.clone(), to_lib.clone()]).await;
            receive(&mut ours, &id_o, DATA).await
        },
    );
    assert!(got_lib == to_lib, "libzmq got other bytes than ours sent");
    assert!(got_ours == to_ours, "ours got other bytes than libzmq sent");

    let (closer, closer_id, other, other_id) = if ours_closes {
        (&mut ours, &id_o, &mut lib, &id_l)
    } else {
        (&mut lib, &id_l, &mut ours, &id_o)
    };
    closer.send(vec![closer_id.clone(), Vec::new()]).await;
    // libzmq 4.3.4 closes the connection only once its socket handles the pipe's
    // termination, in a later call: the closer keeps calling until the other end heard.
    let heard = AtomicBool::new(false);
    let (gone, mut seen) = tokio::join!(
        async {
            let id = notification(other).await;
            heard.store(true, Ordering::Release);
            id
        },
        keep_calling(closer, &heard),
    );
    assert_eq!(&gone, other_id, "disconnect notification");

    if ours_binds == ours_closes {
        // The binder closed: the connecting end reconnects under the id it had, and the
        // binder sees a new peer (maybe while it kept calling).
        let (again, new_id) = tokio::join!(notification(other), async {
            match seen.pop() {
                Some(m) => {
                    assert!(m.len() == 2 && m[1].is_empty(), "{m:?}");
                    m[0].clone()
                }
                None => notification(closer).await,
            }
        });
        assert_eq!(
            &again, other_id,
            "a reconnect keeps the connecting end's id"
        );
        assert_ne!(
            &new_id, closer_id,
            "the binder gives the new connection a new id"
        );
        let hello: Frames = vec![new_id, b"again".to_vec()];
        closer.send(hello).await;
        assert_eq!(receive(other, other_id, 5).await, b"again");
    }
    assert!(seen.is_empty(), "the closer got {seen:?}");
    drop(bound);
}

/// Receives on `side` in short calls until `stop` is set; returns what came meanwhile.
async fn keep_calling(side: &mut Side, stop: &AtomicBool) -> Vec<Frames> {
    let mut seen = Vec::new();
    while !stop.load(Ordering::Acquire) {
        // The length of a call only sets how soon this notices `stop`.
        seen.extend(side.recv_for(Duration::from_millis(20)).await);
    }
    seen
}

/// Our `connect_routing_id` names the peer of our `connect` to a libzmq STREAM.
pub async fn connect_routing_id(t: Transport) {
    let mut lib = Side::new(Impl::Libzmq, Kind::Stream, &Setup::default());
    let bound = lib.bind(t).await;
    let mut ours = Side::new(Impl::Ours, Kind::Stream, &Setup::default());
    if let Side::Ours(o) = &mut ours {
        if let crate::side::Ours::Stream(s) = &mut **o {
            s.set_connect_routing_id(Some(Bytes::from_static(b"named")))
                .expect("connect_routing_id");
        }
    }
    ours.connect(&bound.endpoint).await;
    let (id_o, id_l) = tokio::join!(notification(&mut ours), notification(&mut lib));
    assert_eq!(id_o, b"named");
    let (_, got) = tokio::join!(
        ours.send(frames(&["named", "hi"])),
        receive(&mut lib, &id_l, 2)
    );
    assert_eq!(got, b"hi");
}

macro_rules! cells {
    ($($binder:ident = $ours_binds:expr;)*) => {$(
        pub mod $binder {
            cells!(@t $ours_binds, tcp, Tcp);
            cells!(@t $ours_binds, ipc, Ipc);
        }
    )*};
    (@t $ours_binds:expr, $name:ident, $t:ident) => {
        pub mod $name {
            #[test]
            fn ours_closes() {
                let t = crate::side::Transport::$t;
                crate::block_on(crate::stream::exchange($ours_binds, true, t));
            }
            #[test]
            fn libzmq_closes() {
                let t = crate::side::Transport::$t;
                crate::block_on(crate::stream::exchange($ours_binds, false, t));
            }
        }
    };
}

cells! {
    ours_binds = true;
    ours_connects = false;
}

pub mod connect_routing_id {
    #[test]
    fn tcp() {
        crate::block_on(crate::stream::connect_routing_id(
            crate::side::Transport::Tcp,
        ));
    }
    #[test]
    fn ipc() {
        crate::block_on(crate::stream::connect_routing_id(
            crate::side::Transport::Ipc,
        ));
    }
}
