//! `inproc://` rendezvous: a process-wide registry that introduces a connecting socket to a
//! binding one.
//!
//! Only the introduction goes through here. A connecting socket hands over a value `T` (the
//! engine sends a pair of message pipes); the binder receives it from its [`InprocListener`],
//! and from then on the two sockets talk through what was in `T`. Messages never pass through
//! the registry.
//!
//! As in libzmq, **connect before bind works**: a connect to a name nobody has bound yet is
//! kept pending, and delivered the moment someone binds the name.
//!
//! # Cancelling a pending connect
//!
//! [`connect`] returns [`Connect::Pending`] with a [`PendingConnect`] handle when nobody is
//! bound yet. The handle owns the pending value:
//!
//! - dropping the handle cancels the connect (the value is dropped, and the binder will never
//!   see it) — so a socket that keeps its handles cancels its pending connects by closing;
//! - [`PendingConnect::cancel`] does the same and gives the value back, if it was still
//!   pending;
//! - [`PendingConnect::detach`] gives up the right to cancel: the value stays registered until
//!   someone binds (or forever). A binder may then receive a value whose other side is long
//!   gone, which the engine must tolerate (a pipe whose peer end is closed).
//!
//! Once delivered, a value belongs to the binder; cancelling is a no-op.
//!
//! # Types
//!
//! The registry is type-erased: every value on one name must have the same type `T`. A
//! mismatch (binding `A` where `B`s are pending, connecting `B` to a listener of `A`) is an
//! [`Error::InprocTypeMismatch`], never a panic.
//!
//! The namespace is the whole process (libzmq scopes it to a context: a context layer can
//! prefix names with its own id).

use std::any::{type_name, Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::future::poll_fn;
use std::marker::PhantomData;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll};

use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tracing::debug;

use crate::Error;

type AnyBox = Box<dyn Any + Send>;

/// The process-wide name table.
#[derive(Default)]
struct Registry {
    names: HashMap<String, Slot>,
    /// Identifies listeners and pending connects, so a stale handle never touches a newer
    /// entry under the same name.
    next_id: u64,
}

enum Slot {
    /// A listener is bound; `sender` is an `UnboundedSender<T>`.
    Bound {
        id: u64,
        sender: AnyBox,
        type_name: &'static str,
    },
    /// Nobody is bound; connects of one type wait here in arrival order.
    Pending {
        type_id: TypeId,
        type_name: &'static str,
        /// Each a `Box<T>` with its connect's id.
        values: Vec<(u64, AnyBox)>,
    },
}

impl Registry {
    fn lock() -> MutexGuard<'static, Registry> {
        static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
        REGISTRY
            .get_or_init(Mutex::default)
            .lock()
            // Nothing panics while the lock is held, and every update leaves a valid table.
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Takes the pending value `id` out of the table; the caller drops it after unlocking,
    /// since a value's destructor might itself use the registry.
    fn take_pending(&mut self, name: &str, id: u64) -> Option<AnyBox> {
        let Some(Slot::Pending { values, .. }) = self.names.get_mut(name) else {
            return None;
        };
        let index = values.iter().position(|(value_id, _)| *value_id == id)?;
        let (_, value) = values.remove(index);
        if values.is_empty() {
            self.names.remove(name);
        }
        Some(value)
    }
}

/// Binds `name`, delivering at once every connect already pending on it.
///
/// Fails with [`Error::AddrInUse`] if `name` is bound, and with
/// [`Error::InprocTypeMismatch`] if connects of another type are pending (they stay pending).
pub fn bind<T: Send + 'static>(name: &str) -> Result<InprocListener<T>, Error> {
    let (sender, receiver) = mpsc::unbounded_channel::<T>();
    let mut registry = Registry::lock();
    let id = registry.next_id();
    let pending = match registry.names.remove(name) {
        None => Vec::new(),
        Some(slot @ Slot::Bound { .. }) => {
            registry.names.insert(name.to_owned(), slot);
            return Err(Error::AddrInUse {
                endpoint: format!("inproc://{name}"),
            });
        }
        Some(Slot::Pending {
            type_id,
            type_name: pending_type,
            values,
        }) => {
            if type_id != TypeId::of::<T>() {
                registry.names.insert(
                    name.to_owned(),
                    Slot::Pending {
                        type_id,
                        type_name: pending_type,
                        values,
                    },
                );
                return Err(Error::InprocTypeMismatch {
                    name: name.to_owned(),
                    expected: pending_type,
                    found: type_name::<T>(),
                });
            }
            values
        }
    };
    let delivered = pending.len();
    for (_, value) in pending {
        // The type id matched, so every downcast succeeds; the receiver is alive right here.
        if let Ok(value) = value.downcast::<T>() {
            let _ = sender.send(*value);
        }
    }
    registry.names.insert(
        name.to_owned(),
        Slot::Bound {
            id,
            sender: Box::new(sender),
            type_name: type_name::<T>(),
        },
    );
    drop(registry);
    debug!(name, delivered, "inproc bound");
    Ok(InprocListener {
        name: name.to_owned(),
        id,
        receiver,
    })
}

/// Hands `value` to whoever binds `name`: at once if bound, otherwise when someone does.
///
/// On [`Error::InprocTypeMismatch`] the value is dropped.
pub fn connect<T: Send + 'static>(name: &str, value: T) -> Result<Connect<T>, Error> {
    let mut registry = Registry::lock();
    let value = match registry.names.get(name) {
        Some(Slot::Bound {
            sender,
            type_name: bound_type,
            ..
        }) => {
            let Some(sender) = sender.downcast_ref::<UnboundedSender<T>>() else {
                let error = Error::InprocTypeMismatch {
                    name: name.to_owned(),
                    expected: bound_type,
                    found: type_name::<T>(),
                };
                drop(registry);
                return Err(error);
            };
            // The listener unregisters before its receiver goes, so this only fails if that
            // ever changes; then the value waits for the next binder instead of vanishing.
            match sender.send(value) {
                Ok(()) => {
                    drop(registry);
                    debug!(name, "inproc connect delivered");
                    return Ok(Connect::Delivered);
                }
                Err(mpsc::error::SendError(value)) => {
                    registry.names.remove(name);
                    value
                }
            }
        }
        Some(Slot::Pending {
            type_id,
            type_name: pending_type,
            ..
        }) if *type_id != TypeId::of::<T>() => {
            let error = Error::InprocTypeMismatch {
                name: name.to_owned(),
                expected: pending_type,
                found: type_name::<T>(),
            };
            drop(registry);
            return Err(error);
        }
        Some(Slot::Pending { .. }) | None => value,
    };
    let id = registry.next_id();
    let slot = registry
        .names
        .entry(name.to_owned())
        .or_insert_with(|| Slot::Pending {
            type_id: TypeId::of::<T>(),
            type_name: type_name::<T>(),
            values: Vec::new(),
        });
    if let Slot::Pending { values, .. } = slot {
        values.push((id, Box::new(value)));
    }
    drop(registry);
    debug!(name, "inproc connect pending");
    Ok(Connect::Pending(PendingConnect {
        name: name.to_owned(),
        id: Some(id),
        _value: PhantomData,
    }))
}

/// What [`connect`] did with the value.
#[must_use = "dropping a Connect::Pending cancels the connect; keep it, or call detach()"]
#[derive(Debug)]
pub enum Connect<T> {
    /// A listener was bound: the value is in its accept queue.
    Delivered,
    /// Nobody is bound yet: the value waits, owned by this handle.
    Pending(PendingConnect<T>),
}

/// A connect waiting for its name to be bound. Dropping it cancels the connect.
pub struct PendingConnect<T> {
    name: String,
    /// `None` once cancelled or detached.
    id: Option<u64>,
    _value: PhantomData<fn() -> T>,
}

impl<T: 'static> PendingConnect<T> {
    /// The inproc name connected to.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True while the value still waits for a binder.
    pub fn is_pending(&self) -> bool {
        let Some(id) = self.id else {
            return false;
        };
        match Registry::lock().names.get(&self.name) {
            Some(Slot::Pending { values, .. }) => values.iter().any(|(v, _)| *v == id),
            _ => false,
        }
    }

    /// Withdraws the connect, returning the value if it had not been delivered yet.
    pub fn cancel(mut self) -> Option<T> {
        let id = self.id.take()?;
        let value = Registry::lock().take_pending(&self.name, id)?;
        value.downcast::<T>().ok().map(|value| *value)
    }

    /// Leaves the value registered until someone binds the name, with no way to withdraw it.
    pub fn detach(mut self) {
        self.id = None;
    }
}

impl<T> Drop for PendingConnect<T> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let value = Registry::lock().take_pending(&self.name, id);
            if value.is_some() {
                debug!(name = %self.name, "inproc pending connect cancelled");
            }
            // `value` drops here, after the lock is released.
        }
    }
}

impl<T> fmt::Debug for PendingConnect<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingConnect")
            .field("name", &self.name)
            .field("id", &self.id)
            .finish()
    }
}

/// A bound inproc name. Dropping it unbinds the name; values not yet accepted are dropped.
pub struct InprocListener<T> {
    name: String,
    id: u64,
    receiver: UnboundedReceiver<T>,
}

impl<T: Send + 'static> InprocListener<T> {
    /// The bound name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Polls for the next connecting peer's value, in the order the connects happened
    /// (pending ones first).
    pub fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<T> {
        match self.receiver.poll_recv(cx) {
            Poll::Ready(Some(value)) => Poll::Ready(value),
            // The registry holds the sender for as long as this listener exists, so the
            // channel cannot close; if it ever did, no value could arrive again.
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }

    /// Waits for the next connecting peer's value.
    pub async fn accept(&mut self) -> T {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// The next value if one is waiting, without blocking.
    pub fn try_accept(&mut self) -> Option<T> {
        self.receiver.try_recv().ok()
    }
}

impl<T> Drop for InprocListener<T> {
    fn drop(&mut self) {
        let mut registry = Registry::lock();
        let ours = matches!(
            registry.names.get(&self.name),
            Some(Slot::Bound { id, .. }) if *id == self.id
        );
        let slot = if ours {
            registry.names.remove(&self.name)
        } else {
            None
        };
        drop(registry);
        drop(slot);
        debug!(name = %self.name, "inproc unbound");
    }
}

impl<T> fmt::Debug for InprocListener<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InprocListener")
            .field("name", &self.name)
            .field("id", &self.id)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use super::*;

    /// A name unique to this test run, so tests sharing the registry run in parallel.
    fn unique(tag: &str) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        format!("test-{tag}-{}-{n}", std::process::id())
    }

    fn delivered<T>(connect: Connect<T>) {
        assert!(matches!(connect, Connect::Delivered));
    }

    fn pending<T>(connect: Connect<T>) -> PendingConnect<T> {
        match connect {
            Connect::Pending(handle) => handle,
            Connect::Delivered => panic!("expected the connect to wait"),
        }
    }

    #[tokio::test]
    async fn bind_then_connect() {
        let name = unique("bind-first");
        let mut listener = bind::<u32>(&name).unwrap();
        assert_eq!(listener.name(), name);
        assert!(listener.try_accept().is_none());
        delivered(connect(&name, 1u32).unwrap());
        delivered(connect(&name, 2u32).unwrap());
        assert_eq!(listener.accept().await, 1);
        assert_eq!(listener.accept().await, 2);
    }

    #[tokio::test]
    async fn accept_wakes_when_a_connect_arrives() {
        let name = unique("wake");
        let mut listener = bind::<&'static str>(&name).unwrap();
        let connector = {
            let name = name.clone();
            tokio::spawn(async move { delivered(connect(&name, "hi").unwrap()) })
        };
        assert_eq!(listener.accept().await, "hi");
        connector.await.unwrap();
    }

    #[tokio::test]
    async fn connect_before_bind() {
        let name = unique("connect-first");
        let first = pending(connect(&name, 1u32).unwrap());
        let second = pending(connect(&name, 2u32).unwrap());
        assert!(first.is_pending() && second.is_pending());
        let mut listener = bind::<u32>(&name).unwrap();
        assert!(!first.is_pending() && !second.is_pending());
        assert_eq!(listener.accept().await, 1);
        assert_eq!(listener.accept().await, 2);
        // Delivered: the handles can no longer take anything back.
        assert_eq!(first.cancel(), None);
        drop(second);
        delivered(connect(&name, 3u32).unwrap());
        assert_eq!(listener.accept().await, 3);
    }

    #[tokio::test]
    async fn double_bind_is_addr_in_use() {
        let name = unique("double");
        let _listener = bind::<u32>(&name).unwrap();
        assert!(matches!(
            bind::<u32>(&name),
            Err(Error::AddrInUse { endpoint }) if endpoint == format!("inproc://{name}")
        ));
    }

    #[tokio::test]
    async fn rebind_after_drop() {
        let name = unique("rebind");
        let first = bind::<u32>(&name).unwrap();
        delivered(connect(&name, 1u32).unwrap());
        drop(first); // the unaccepted value goes with it
        let handle = pending(connect(&name, 2u32).unwrap());
        let mut second = bind::<u32>(&name).unwrap();
        assert_eq!(second.accept().await, 2);
        assert!(second.try_accept().is_none());
        drop(handle);
    }

    #[tokio::test]
    async fn type_mismatch_is_an_error() {
        let name = unique("mismatch-bound");
        let mut listener = bind::<u32>(&name).unwrap();
        match connect(&name, "text") {
            Err(Error::InprocTypeMismatch {
                name: n,
                expected,
                found,
            }) => {
                assert_eq!(
                    (n.as_str(), expected, found),
                    (name.as_str(), "u32", "&str")
                );
            }
            other => panic!("expected a type mismatch, got {other:?}"),
        }
        // The listener is unaffected.
        delivered(connect(&name, 7u32).unwrap());
        assert_eq!(listener.accept().await, 7);

        let name = unique("mismatch-pending");
        let handle = pending(connect(&name, 1u32).unwrap());
        assert!(matches!(
            connect(&name, 1i64),
            Err(Error::InprocTypeMismatch { .. })
        ));
        assert!(matches!(
            bind::<i64>(&name),
            Err(Error::InprocTypeMismatch {
                expected: "u32",
                found: "i64",
                ..
            })
        ));
        // The pending connect survived both refusals.
        assert!(handle.is_pending());
        let mut listener = bind::<u32>(&name).unwrap();
        assert_eq!(listener.accept().await, 1);
    }

    #[tokio::test]
    async fn cancelled_and_dropped_connects_never_arrive() {
        let name = unique("cancel");
        let cancelled = pending(connect(&name, 1u32).unwrap());
        let dropped = pending(connect(&name, 2u32).unwrap());
        let detached = pending(connect(&name, 3u32).unwrap());
        assert_eq!(cancelled.cancel(), Some(1));
        drop(dropped);
        detached.detach();
        let mut listener = bind::<u32>(&name).unwrap();
        assert_eq!(listener.accept().await, 3);
        assert!(listener.try_accept().is_none());
    }

    #[tokio::test]
    async fn cancelling_the_last_pending_connect_frees_the_name_for_any_type() {
        let name = unique("free");
        drop(pending(connect(&name, 1u32).unwrap()));
        // No pending u32 remains, so the name carries no type any more.
        let mut listener = bind::<String>(&name).unwrap();
        delivered(connect(&name, "s".to_owned()).unwrap());
        assert_eq!(listener.accept().await, "s");
    }

    #[tokio::test]
    async fn values_are_dropped_with_the_listener_or_on_cancel() {
        let name = unique("drops");
        let probe = Arc::new(());
        let mut listener = bind::<Arc<()>>(&name).unwrap();
        delivered(connect(&name, Arc::clone(&probe)).unwrap());
        delivered(connect(&name, Arc::clone(&probe)).unwrap());
        let accepted = listener.accept().await;
        drop(listener);
        assert_eq!(
            Arc::strong_count(&probe),
            2,
            "the unaccepted value was dropped"
        );
        drop(accepted);
        drop(pending(connect(&name, Arc::clone(&probe)).unwrap()));
        assert_eq!(
            Arc::strong_count(&probe),
            1,
            "the cancelled value was dropped"
        );
    }
}
