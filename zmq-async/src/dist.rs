//! The distributor, libzmq's `dist`: one message to many peers (PUB and XPUB to the
//! matching subscribers, SUB and XSUB to every publisher).

use zmtp_codec::Message;

use crate::peer::Peers;
use crate::pipe::PushError;
use crate::slab::Key;

/// What a peer at its HWM gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AtHwm {
    /// Nothing: it misses the message (PUB, and XSUB's user messages).
    Drop,
    /// The message all the same: subscriptions are never dropped.
    Force,
}

/// Sends `msg` to every peer of `keys` still attached: the last gets the message itself,
/// the others a cheap clone. A peer found closed is noted dead.
#[inline]
pub(crate) fn send_to_all(peers: &mut Peers, keys: &[Key], msg: Message, at_hwm: AtHwm) {
    let last = keys.len();
    peers.note_fan_out(last);
    let mut msg = Some(msg);
    for (i, &key) in keys.iter().enumerate() {
        let Some(peer) = peers.get_mut(key) else {
            continue;
        };
        let m = if i + 1 == last {
            msg.take()
        } else {
            msg.clone()
        };
        let Some(m) = m else {
            break;
        };
        let closed = match at_hwm {
            AtHwm::Force => peer.outbound.push_force(m).is_err(),
            AtHwm::Drop => match peer.outbound.try_push(m) {
                Ok(()) => false,
                Err(PushError::Full(_)) => {
                    peers.note_hwm_drop();
                    false
                }
                Err(PushError::Closed(_)) => true,
            },
        };
        if closed {
            peers.note_dead(key);
        }
    }
}
