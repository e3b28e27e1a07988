//! Tokio's cooperative budget for the sockets' futures, streams and sinks.
//!
//! Tokio gives a task a budget of 128 units each time it is polled, and its own sockets and
//! channels charge one unit per operation; once the budget is spent, the next operation
//! wakes the task and returns `Pending`, so the task yields to the runtime. Ours take part
//! the same way, so that a task that sends without ever having to wait (a PUB, or any socket
//! below a high HWM) or receives from a queue that never empties does not keep its thread
//! from the program's other tasks, nor, on a current-thread runtime, from the connections'
//! tasks that write what it queues. A message sent to many peers counts once for each
//! ([`Coop::add`]). Outside a Tokio runtime there is no budget. The
//! `try_*` methods take no part: the budget would turn a message that can go into
//! `WouldBlock`.

use std::task::{Context, Poll};

use tokio::task::coop::poll_proceed;

/// Operations of a socket charged as one unit of the budget.
///
/// An operation of Tokio's sockets is a system call; one of ours costs tens of nanoseconds.
/// Charged a unit each, a sender of 8-byte messages yielded every 128 and its tcp throughput
/// fell from 11.0-12.2 to 8.2-10.9 M msg/s (`local_thr`/`remote_thr`, 3,000,000 messages,
/// pinned, three interleaved rounds, the count kept per thread in that experiment); at 32 a
/// unit (4,096 operations a poll) it measured 11.9-12.9 M, no different from no charge at
/// all. The count costs 4-7 instructions a message (`scripts/instructions.sh`).
pub(crate) const OPS_PER_UNIT: u32 = 32;

/// A socket's count of operations, and the charge of every [`OPS_PER_UNIT`]th.
///
/// ```text
/// ready!(coop.poll_proceed(cx));   // Pending: the budget is spent, yield
/// operation(cx)
/// ```
///
/// Every operation started is counted, and a charged one keeps its unit whether it
/// completes or has to wait (Tokio's own give it back when they wait). Settling the charge
/// (or counting) by the outcome meant looking at each result before returning it, and the
/// receiving path then copied each message once more (the receiver's inlined poll in
/// `inproc_thr` went from 45 instructions a message to 63 and 71 in two such versions,
/// callgrind; it is 45 with this one).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Coop {
    ops: u32,
}

impl Coop {
    pub(crate) fn from_count(ops: u32) -> Self {
        Coop { ops }
    }

    pub(crate) fn count(self) -> u32 {
        self.ops
    }

    /// Before an operation: `Ready` if it may go (charged, if it is its turn), `Pending`
    /// (the task woken, to come back after the runtime's other tasks) if it is its turn to
    /// be charged and the budget is spent.
    #[inline(always)]
    pub(crate) fn poll_proceed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.ops % OPS_PER_UNIT == 0 {
            futures::ready!(charge(cx));
        }
        self.ops = self.ops.wrapping_add(1);
        Poll::Ready(())
    }

    /// Counts `extra` operations done beside the ones started: a message sent to many
    /// peers is an operation for each (a PUB's send to 100 subscribers is the work of 100
    /// sends). Charges a unit for each charge point they pass; once the budget is spent, the
    /// next operation looks at it, and yields.
    ///
    /// Counted as one operation, a PUB with 100 subscribers on a current-thread runtime
    /// queued 4,096 messages for each before its connections' tasks wrote one: 46 MB of
    /// queue that no cache holds, and every store into it missed (`scale fanout`, 100
    /// SUBs: 53,000 page faults for 1,000,000 deliveries; the numbers are in the README).
    #[inline(always)]
    pub(crate) fn add(&mut self, cx: &mut Context<'_>, extra: u32) {
        if extra != 0 {
            self.add_slow(cx, extra);
        }
    }

    #[inline(never)]
    fn add_slow(&mut self, cx: &mut Context<'_>, extra: u32) {
        let unit = u64::from(OPS_PER_UNIT);
        let from = u64::from(self.ops);
        let to = from + u64::from(extra);
        // The charge points in from..to (the counts that are multiples of OPS_PER_UNIT;
        // the wrapping count keeps them, 2^32 being a multiple). Tokio's budget is 128
        // units: past that many the task yields anyway (and outside a runtime, where
        // every charge is granted, the loop stays short).
        let units = (to.div_ceil(unit) - from.div_ceil(unit)).min(128);
        self.ops = self.ops.wrapping_add(extra);
        for _ in 0..units {
            if charge(cx).is_pending() {
                // Spent: the next operation is at a charge point, and waits.
                self.ops -= self.ops % OPS_PER_UNIT;
                return;
            }
        }
    }
}

/// Takes a unit of the task's budget, out of the operations' inlined path.
#[inline(never)]
fn charge(cx: &mut Context<'_>) -> Poll<()> {
    poll_proceed(cx).map(|charge| charge.made_progress())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::task::noop_waker_ref;

    /// Starts up to `ops` operations in one poll of a task of a current-thread runtime;
    /// returns how many the budget let through.
    fn let_through(ops: usize) -> usize {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(std::future::poll_fn(|cx| {
            let mut coop = Coop::default();
            for done in 0..ops {
                if coop.poll_proceed(cx).is_pending() {
                    return Poll::Ready(done);
                }
            }
            Poll::Ready(ops)
        }))
    }

    #[test]
    fn a_task_yields_after_128_units_of_32_operations() {
        assert_eq!(let_through(10_000), 128 * OPS_PER_UNIT as usize);
    }

    #[test]
    fn a_task_polled_again_has_its_budget_again() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut coop = Coop::default();
        let mut polls = 0;
        let mut done = 0;
        rt.block_on(std::future::poll_fn(|cx| {
            polls += 1;
            while done < 10_000 {
                if coop.poll_proceed(cx).is_pending() {
                    // Woken by the budget: the runtime polls this task again.
                    return Poll::Pending;
                }
                done += 1;
            }
            Poll::Ready(())
        }));
        assert_eq!((done, polls), (10_000, 3));
    }

    #[test]
    fn operations_done_beside_one_count_towards_the_budget() {
        // Each operation is a message to 100 peers: 4,096 / 100 of them use up the 128
        // units (the 41st passes the last charge points).
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let through = rt.block_on(std::future::poll_fn(|cx| {
            let mut coop = Coop::default();
            for done in 0..10_000 {
                if coop.poll_proceed(cx).is_pending() {
                    return Poll::Ready(done);
                }
                coop.add(cx, 99);
            }
            Poll::Ready(10_000)
        }));
        assert_eq!(through, 41);
    }

    #[test]
    fn outside_a_runtime_extra_operations_cost_nothing() {
        let mut cx = Context::from_waker(noop_waker_ref());
        let mut coop = Coop::default();
        for _ in 0..1_000 {
            coop.add(&mut cx, u32::MAX);
            assert!(coop.poll_proceed(&mut cx).is_ready());
        }
    }

    #[test]
    fn outside_a_runtime_nothing_is_charged() {
        let mut cx = Context::from_waker(noop_waker_ref());
        let mut coop = Coop::default();
        for _ in 0..100_000 {
            assert!(coop.poll_proceed(&mut cx).is_ready());
        }
        assert_eq!(coop.count(), 100_000);
    }
}
