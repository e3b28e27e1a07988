//! The inproc rendezvous: connects that come before their bind, binders that go away, and
//! connects withdrawn before any bind (the cases `zmq-transports`' generic registry tested
//! before it was removed, checked here against the rendezvous the sockets use).
#![allow(clippy::unwrap_used)]

mod common;
use std::time::Duration;

use common::*;
use zmq_async::{Error, PullSocket, PushSocket};

#[tokio::test]
async fn every_connect_made_before_the_bind_arrives() {
    within(async {
        let e = ep("early");
        let mut pushers = Vec::new();
        for i in 0..3 {
            let mut p = PushSocket::new();
            p.connect(&e).await.unwrap();
            p.send(msg(&[&i.to_string()])).await.unwrap();
            pushers.push(p);
        }
        let mut pull = PullSocket::new();
        pull.bind(&e).await.unwrap();
        assert_eq!(pull.peer_count(), 3);
        let mut got: Vec<String> = Vec::new();
        for _ in 0..3 {
            got.push(strs(&pull.recv().await.unwrap()).remove(0));
        }
        got.sort();
        assert_eq!(got, ["0", "1", "2"]);
        assert!(matches!(pull.try_recv(), Err(Error::WouldBlock)));
    })
    .await;
}

#[tokio::test]
async fn a_connect_after_the_binder_left_waits_for_the_next_binder() {
    within(async {
        let e = ep("rebind");
        // The first binder unbinds; the second is dropped while still bound.
        let mut first = PullSocket::new();
        first.bind(&e).await.unwrap();
        first.unbind(&e).await.unwrap();
        let mut second = PullSocket::new();
        second.bind(&e).await.unwrap();
        drop(second);

        let mut push = PushSocket::new();
        push.connect(&e).await.unwrap();
        push.send(msg(&["late"])).await.unwrap();
        assert_eq!(first.peer_count(), 0);

        let mut third = PullSocket::new();
        third.bind(&e).await.unwrap();
        assert_eq!(strs(&third.recv().await.unwrap()), ["late"]);
        assert_eq!(first.peer_count(), 0);
    })
    .await;
}

#[tokio::test]
async fn withdrawn_immediate_connects_never_reach_a_later_binder() {
    within(async {
        let e = ep("withdrawn");
        let mut disconnected = PushSocket::new();
        disconnected.set_immediate(true).unwrap();
        disconnected.connect(&e).await.unwrap();
        disconnected.disconnect(&e).await.unwrap();
        let mut dropped = PushSocket::new();
        dropped.set_immediate(true).unwrap();
        dropped.connect(&e).await.unwrap();
        drop(dropped);
        let mut kept = PushSocket::new();
        kept.set_immediate(true).unwrap();
        kept.connect(&e).await.unwrap();

        let mut pull = PullSocket::new();
        pull.bind(&e).await.unwrap();
        // Only the connect still standing is linked.
        assert_eq!(pull.peer_count(), 1);
        assert_eq!(disconnected.peer_count(), 0);
        kept.send(msg(&["kept"])).await.unwrap();
        assert_eq!(strs(&pull.recv().await.unwrap()), ["kept"]);
    })
    .await;
}

#[tokio::test]
async fn what_a_closed_connector_queued_before_the_bind_is_delivered() {
    within(async {
        let e = ep("linger-early");
        let mut lingering = PushSocket::new();
        lingering.connect(&e).await.unwrap();
        lingering.send(msg(&["kept"])).await.unwrap();
        drop(lingering); // linger forever (the default): the message stays queued
        let mut discarding = PushSocket::new();
        discarding.set_linger(Some(Duration::ZERO)).unwrap();
        discarding.connect(&e).await.unwrap();
        discarding.send(msg(&["dropped"])).await.unwrap();
        drop(discarding);

        let mut pull = PullSocket::new();
        pull.bind(&e).await.unwrap();
        assert_eq!(strs(&pull.recv().await.unwrap()), ["kept"]);
        assert!(matches!(pull.try_recv(), Err(Error::WouldBlock)));
    })
    .await;
}
