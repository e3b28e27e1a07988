//! The in-process transport: sockets in one process exchange [`Message`]s
//! through pipes, with no encoding and no task.
//!
//! The rendezvous (which socket is bound to which name, and connects waiting
//! for a bind) is a process-wide map behind [`register`] / [`lookup_or_wait`].
//! It lives here, beside the sockets, as libzmq keeps it in the context: linking
//! needs both sockets' options (the pipe's HWM is the sender's SNDHWM plus the
//! receiver's RCVHWM) and whether the binder is still alive. Connect-before-bind
//! works: without `immediate`, the connecting socket gets its pipes at once and
//! messages queue until the bind.
//!
//! [`Message`]: zmtp_codec::Message

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;

use zmtp_codec::Message;

use crate::peer::{FarEnds, PeerId, PeerInfo, Shared};
use crate::pipe::{PipeReader, PipeWriter};
use crate::{Error, Result, SocketOptions, SocketType};

/// A connect waiting for its bind.
#[derive(Debug)]
pub(crate) struct Pending {
    connector: Arc<Shared>,
    info: PeerInfo,
    alias: Option<Bytes>,
    /// The peer id on the connector and the binder's ends; `None` with `immediate`.
    ends: Option<(PeerId, FarEnds)>,
}

#[derive(Debug, Default)]
struct Entry {
    binder: Option<Arc<Shared>>,
    pending: Vec<Pending>,
}

fn registry() -> MutexGuard<'static, HashMap<String, Entry>> {
    static REGISTRY: OnceLock<Mutex<HashMap<String, Entry>>> = OnceLock::new();
    REGISTRY
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

// ---- the rendezvous pair -------------------------------------------------

/// Binds `name` to `binder`; returns the connects that were waiting for it.
fn register(name: &str, binder: &Arc<Shared>) -> Result<Vec<Pending>> {
    let mut reg = registry();
    let entry = reg.entry(name.to_owned()).or_default();
    if entry.binder.as_ref().is_some_and(|b| !b.is_closed()) {
        return Err(Error::AddrInUse(format!("inproc://{name}")));
    }
    entry.binder = Some(binder.clone());
    Ok(std::mem::take(&mut entry.pending))
}

/// The socket bound to `name`, or else queues the connect built by `wait`.
fn lookup_or_wait(
    name: &str,
    wait: impl FnOnce() -> Result<Pending>,
) -> Result<Option<Arc<Shared>>> {
    let mut reg = registry();
    let entry = reg.entry(name.to_owned()).or_default();
    match &entry.binder {
        Some(b) if !b.is_closed() => Ok(Some(b.clone())),
        _ => {
            entry.pending.push(wait()?);
            Ok(None)
        }
    }
}

// ---- linking ---------------------------------------------------------------

fn info_of(shared: &Shared, opts: &SocketOptions) -> PeerInfo {
    PeerInfo {
        socket_type: shared.socket_type,
        routing_id: opts.routing_id.clone(),
        metadata: Default::default(),
        subscribe_all: false,
    }
}

/// What a DEALER or ROUTER with `hello_msg` sends first to each new inproc peer (as
/// libzmq's `send_hello_msg` on an inproc pipe).
fn hello_of(shared: &Shared, opts: &SocketOptions) -> Option<Message> {
    let greets = matches!(shared.socket_type, SocketType::Dealer | SocketType::Router);
    opts.hello_msg.clone().filter(|_| greets).map(Message::from)
}

/// Puts the binder's hello at the head of the pipe to its new connector.
fn greet_connector(to_connector: &PipeWriter, binder: &Shared, b: &SocketOptions) {
    if let Some(hello) = hello_of(binder, b) {
        let _ = to_connector.push_force(hello);
    }
}

/// libzmq's inproc HWM: the sender's SNDHWM plus the receiver's RCVHWM; 0 if either is unlimited.
fn combined(snd: usize, rcv: usize) -> usize {
    if snd == 0 || rcv == 0 {
        0
    } else {
        snd + rcv
    }
}

/// Pipes between two live sockets; returns the connector's peer id.
fn link(connector: &Arc<Shared>, binder: &Arc<Shared>, alias: Option<Bytes>) -> Result<PeerId> {
    let (c, b) = (connector.options(), binder.options());
    let (id, ends) = connector.attach_new(
        combined(b.sndhwm, c.rcvhwm),
        combined(c.sndhwm, b.rcvhwm),
        c.conflate || b.conflate,
        Some(info_of(binder, &b)),
        alias,
        hello_of(connector, &c),
    )?;
    greet_connector(&ends.to_socket, binder, &b);
    // If the binder closed meanwhile its ends drop here and the connector sees the peer end.
    let _ = binder.attach_ends(
        ends.from_socket,
        ends.to_socket,
        Some(info_of(connector, &c)),
        None,
    );
    Ok(id)
}

/// What a `connect` created, for `disconnect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Connect {
    /// Pipes exist; the connector's peer.
    Peer(PeerId),
    /// `immediate` connect still waiting for a bind.
    Waiting,
}

/// `bind("inproc://name")`.
pub(crate) fn bind(name: &str, binder: &Arc<Shared>) -> Result<()> {
    let waiting = register(name, binder)?;
    let b = binder.options();
    for p in waiting {
        match p.ends {
            Some((id, ends)) => {
                let (from_connector, to_connector) = (ends.from_socket, ends.to_socket);
                let c = p.connector.options();
                from_connector.set_hwm(combined(c.sndhwm, b.rcvhwm));
                to_connector.set_hwm(combined(b.sndhwm, c.rcvhwm));
                greet_connector(&to_connector, binder, &b);
                // Attach even if the connector is gone: what it queued before
                // closing (within its linger) is still delivered, as libzmq.
                let _ = binder.attach_ends(from_connector, to_connector, Some(p.info), None);
                let _ = p.connector.connected(id, info_of(binder, &b));
            }
            None if !p.connector.is_closed() => {
                if let Err(e) = link(&p.connector, binder, p.alias) {
                    tracing::debug!(%e, "inproc connect completed after its socket closed");
                }
            }
            None => {}
        }
    }
    Ok(())
}

/// `unbind("inproc://name")`: no new connections; existing ones stay (as libzmq).
pub(crate) fn unbind(name: &str, binder: &Arc<Shared>) -> Result<()> {
    let mut reg = registry();
    let found = match reg.get_mut(name) {
        Some(entry)
            if entry
                .binder
                .as_ref()
                .is_some_and(|b| Arc::ptr_eq(b, binder)) =>
        {
            entry.binder = None;
            entry.pending.is_empty()
        }
        _ => return Err(Error::EndpointNotFound(format!("inproc://{name}"))),
    };
    if found {
        reg.remove(name);
    }
    Ok(())
}

/// `connect("inproc://name")`.
pub(crate) fn connect(
    name: &str,
    connector: &Arc<Shared>,
    alias: Option<Bytes>,
) -> Result<Connect> {
    let opts = connector.options();
    let info = info_of(connector, &opts);
    let mut made = None;
    let binder = lookup_or_wait(name, || {
        let ends = if opts.immediate {
            None
        } else {
            let (id, ends) = connector.attach_new(
                opts.rcvhwm,
                opts.sndhwm,
                opts.conflate,
                None,
                alias.clone(),
                hello_of(connector, &opts),
            )?;
            made = Some(id);
            Some((id, ends))
        };
        Ok(Pending {
            connector: connector.clone(),
            info: info.clone(),
            alias: alias.clone(),
            ends,
        })
    })?;
    match (binder, made) {
        (Some(binder), _) => link(connector, &binder, alias).map(Connect::Peer),
        (None, Some(id)) => Ok(Connect::Peer(id)),
        (None, None) => Ok(Connect::Waiting),
    }
}

/// Forgets `connector`'s connects to `name` that still wait for a bind.
pub(crate) fn cancel_waiting(name: &str, connector: &Arc<Shared>) {
    let mut reg = registry();
    if let Some(entry) = reg.get_mut(name) {
        entry
            .pending
            .retain(|p| !Arc::ptr_eq(&p.connector, connector));
        if entry.binder.is_none() && entry.pending.is_empty() {
            reg.remove(name);
        }
    }
}

// ---- a bare pipe pair: the ZAP client -----------------------------------------

/// This side's ends of a pipe pair linked to a bound socket, with no socket on this side.
#[derive(Debug)]
pub(crate) struct BarePipes {
    /// Messages to the bound socket.
    pub(crate) outbound: PipeWriter,
    /// Messages from the bound socket.
    pub(crate) inbound: PipeReader,
}

/// Links a bare pipe pair to the live socket bound at `name`, as libzmq's
/// `session_base_t::zap_connect` does: looked up without waiting, `None` when nothing is
/// bound there (or the binder closed meanwhile). The bound socket attaches a peer described
/// by `info`. With no socket on this side, each pipe takes the bound socket's own HWM
/// (its `rcvhwm` towards it, its `sndhwm` from it), so what it queues is bounded by its
/// options (libzmq's ZAP pipes have none).
pub(crate) fn attach_bare(name: &str, info: PeerInfo) -> Option<BarePipes> {
    let binder = registry()
        .get(name)
        .and_then(|e| e.binder.clone())
        .filter(|b| !b.is_closed())?;
    let b = binder.options();
    // Fails only if the binder closed since the look-up: as if it had not been there.
    let (_, ends) = binder
        .attach_new(b.rcvhwm, b.sndhwm, false, Some(info), None, None)
        .ok()?;
    Some(BarePipes {
        outbound: ends.to_socket,
        inbound: ends.from_socket,
    })
}
