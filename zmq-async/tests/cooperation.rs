//! The sockets' futures, streams and sinks take part in Tokio's cooperative scheduling, as
//! Tokio's own sockets and channels do: a task that sends or receives without ever having to
//! wait still lets the other tasks of its runtime run. Each test runs on a current-thread
//! runtime, where the task it spawns can only run when the test's own task yields.
#![allow(clippy::unwrap_used)]

mod common;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use futures::{SinkExt, StreamExt};
use zmq_async::{
    Message, PubSocket, PullSocket, PushSocket, RadioSocket, SocketOptions, SubSocket,
};

/// More operations than a task may do in one poll (Tokio's budget of 128 units, a unit
/// for every 32 operations of a socket: 4,096); the tests' loops stop there.
const LIMIT: usize = 10_000;

/// The turns of a test's loop: 0, 1, ... until a task spawned when it was made has run,
/// `LIMIT` at most.
struct UntilAnotherTaskRuns {
    ran: Arc<AtomicBool>,
    done: usize,
}

impl UntilAnotherTaskRuns {
    fn new() -> Self {
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        tokio::spawn(async move { flag.store(true, Ordering::Release) });
        UntilAnotherTaskRuns { ran, done: 0 }
    }

    /// Asserts that the other task ran; returns how many turns came before it.
    fn assert_it_ran(&self) -> usize {
        assert!(
            self.ran.load(Ordering::Acquire) && self.done < LIMIT,
            "the other task did not run during {} operations",
            self.done
        );
        self.done
    }
}

impl Iterator for UntilAnotherTaskRuns {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.done == LIMIT || self.ran.load(Ordering::Acquire) {
            return None;
        }
        self.done += 1;
        Some(self.done - 1)
    }
}

/// A PUSH connected to a PULL over inproc, both without a HWM.
async fn unbounded_pair(tag: &str) -> (PushSocket, PullSocket) {
    let mut o = SocketOptions::default();
    o.sndhwm = 0;
    o.rcvhwm = 0;
    let e = ep(tag);
    let mut pull = PullSocket::with_options(o.clone()).unwrap();
    pull.bind(&e).await.unwrap();
    let mut push = PushSocket::with_options(o).unwrap();
    push.connect(&e).await.unwrap();
    (push, pull)
}

#[tokio::test]
async fn a_sender_that_never_waits_lets_other_tasks_run() {
    // A PUB without subscribers drops every message: its `send` never waits.
    let mut publisher = PubSocket::new();
    publisher.bind(&ep("coop-pub")).await.unwrap();
    let mut turns = UntilAnotherTaskRuns::new();
    for _ in &mut turns {
        publisher.send(msg(&["m"])).await.unwrap();
    }
    turns.assert_it_ran();
}

/// A PUB (no HWM) with 100 inproc subscribers, every subscription arrived.
async fn publisher_with_100_subscribers(tag: &str) -> (PubSocket, Vec<SubSocket>) {
    let e = ep(tag);
    let mut o = SocketOptions::default();
    o.sndhwm = 0;
    o.rcvhwm = 0;
    let mut publisher = PubSocket::with_options(o.clone()).unwrap();
    publisher.bind(&e).await.unwrap();
    let mut subs = Vec::new();
    for _ in 0..100 {
        let mut sub = SubSocket::with_options(o.clone()).unwrap();
        sub.connect(&e).await.unwrap();
        sub.subscribe(b"").unwrap();
        subs.push(sub);
    }
    // Every subscription has arrived once every subscriber has had a message.
    for sub in &mut subs {
        while sub.try_recv().is_err() {
            publisher.try_send(msg(&["welcome"])).unwrap();
            tokio::task::yield_now().await;
        }
    }
    (publisher, subs)
}

/// Asserts that `sent` sends came before the task yielded, about 4,096 / 100 (41 give or
/// take the phase of the count at the start), and that every subscriber has messages
/// `0..sent`, in order, after the welcomes.
fn assert_fanned_out(sent: usize, subs: &mut [SubSocket]) {
    assert!(
        (30..=45).contains(&sent),
        "{sent} sends before the task yielded"
    );
    let want: Vec<String> = (0..sent).map(|i| i.to_string()).collect();
    for sub in subs {
        let mut got = Vec::new();
        while let Ok(m) = sub.try_recv() {
            if strs(&m) != ["welcome"] {
                got.push(strs(&m).remove(0));
            }
        }
        assert_eq!(got, want);
    }
}

#[tokio::test]
async fn a_message_to_many_subscribers_counts_once_for_each() {
    // The work of a PUB's send grows with its subscribers: one to 100 of them counts as 100
    // operations, so the task yields after about 4,096 / 100 sends (not 4,096, which on a
    // current-thread runtime queued that many for each before a connection could write).
    let (mut publisher, mut subs) = publisher_with_100_subscribers("coop-fan-out").await;
    // `try_send`'s fan-out counts for nothing.
    for _ in 0..1_000 {
        publisher.try_send(msg(&["welcome"])).unwrap();
    }
    tokio::task::yield_now().await;
    let mut turns = UntilAnotherTaskRuns::new();
    for i in &mut turns {
        publisher.send(msg(&[&i.to_string()])).await.unwrap();
    }
    assert_fanned_out(turns.assert_it_ran(), &mut subs);
}

#[tokio::test]
async fn a_shared_send_half_counts_a_message_once_for_each_subscriber() {
    let (publisher, mut subs) = publisher_with_100_subscribers("coop-fan-out-half").await;
    let sender = publisher.into_sender();
    // A shared `try_send`'s fan-out counts for nothing either.
    for _ in 0..1_000 {
        sender.try_send(msg(&["welcome"])).unwrap();
    }
    tokio::task::yield_now().await;
    let mut turns = UntilAnotherTaskRuns::new();
    for i in &mut turns {
        sender.send(msg(&[&i.to_string()])).await.unwrap();
    }
    assert_fanned_out(turns.assert_it_ran(), &mut subs);
}

#[tokio::test]
async fn a_sink_that_never_waits_lets_other_tasks_run() {
    let mut publisher = PubSocket::new();
    publisher.bind(&ep("coop-sink")).await.unwrap();
    let mut turns = UntilAnotherTaskRuns::new();
    for _ in &mut turns {
        publisher.feed(msg(&["m"])).await.unwrap();
    }
    turns.assert_it_ran();
}

#[tokio::test]
async fn a_receiver_with_a_full_queue_lets_other_tasks_run() {
    let (mut push, mut pull) = unbounded_pair("coop-recv").await;
    for i in 0..LIMIT {
        push.try_send(msg(&[&i.to_string()])).unwrap();
    }
    let mut turns = UntilAnotherTaskRuns::new();
    for i in &mut turns {
        assert_eq!(strs(&pull.recv().await.unwrap()), [i.to_string()]);
    }
    // The rest is still there, in order, nothing lost to the yields.
    for i in turns.assert_it_ran()..LIMIT {
        assert_eq!(strs(&pull.try_recv().unwrap()), [i.to_string()]);
    }
}

#[tokio::test]
async fn a_stream_with_a_full_queue_lets_other_tasks_run() {
    let (mut push, mut pull) = unbounded_pair("coop-stream").await;
    for i in 0..LIMIT {
        push.try_send(msg(&[&i.to_string()])).unwrap();
    }
    let mut turns = UntilAnotherTaskRuns::new();
    for i in &mut turns {
        let m = pull.next().await.unwrap().unwrap();
        assert_eq!(strs(&m), [i.to_string()]);
    }
    turns.assert_it_ran();
}

#[tokio::test]
async fn a_shared_send_half_lets_other_tasks_run() {
    let mut publisher = PubSocket::new();
    publisher.bind(&ep("coop-half")).await.unwrap();
    let sender = publisher.into_sender();
    let mut turns = UntilAnotherTaskRuns::new();
    for _ in &mut turns {
        sender.send(msg(&["m"])).await.unwrap();
    }
    turns.assert_it_ran();
}

#[tokio::test]
async fn a_thread_safe_socket_lets_other_tasks_run() {
    // A RADIO without dishes drops every message.
    let radio = RadioSocket::new();
    radio.bind(&ep("coop-radio")).await.unwrap();
    let mut turns = UntilAnotherTaskRuns::new();
    for _ in &mut turns {
        radio
            .send(Message::from("m").in_group("g").unwrap())
            .await
            .unwrap();
    }
    turns.assert_it_ran();
}

#[tokio::test]
async fn try_send_and_try_recv_take_no_budget() {
    // All in one poll of the test's task: had they taken budget, the ones after it ran out
    // would have said WouldBlock.
    let (mut push, mut pull) = unbounded_pair("coop-try").await;
    let sender = {
        let mut publisher = PubSocket::new();
        publisher.bind(&ep("coop-try-pub")).await.unwrap();
        publisher.into_sender()
    };
    let radio = RadioSocket::new();
    radio.bind(&ep("coop-try-radio")).await.unwrap();
    for i in 0..LIMIT {
        push.try_send(msg(&[&i.to_string()])).unwrap();
        sender.try_send(msg(&["m"])).unwrap();
        radio
            .try_send(Message::from("m").in_group("g").unwrap())
            .unwrap();
    }
    for i in 0..LIMIT {
        assert_eq!(strs(&pull.try_recv().unwrap()), [i.to_string()]);
    }
}
