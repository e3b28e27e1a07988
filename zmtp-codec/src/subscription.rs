//! Subscriptions: ZMTP 3.1's SUBSCRIBE and CANCEL commands, and the message form ZMTP 3.0
//! (RFC 23) and older use, which sockets also pass through their pipes: one frame of
//! `0x01` (subscribe) or `0x00` (cancel) followed by the topic.

use bytes::{BufMut, Bytes, BytesMut};

use crate::{Command, Event, Frame, Message};

/// A subscription or a cancellation of one, for a topic prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subscription {
    /// Subscribe to messages whose first frame starts with the topic.
    Subscribe(Bytes),
    /// Cancel one subscription to the topic.
    Cancel(Bytes),
}

impl Subscription {
    /// A subscription (`subscribe`) or a cancellation of `topic`.
    pub fn new(subscribe: bool, topic: impl Into<Bytes>) -> Self {
        if subscribe {
            Subscription::Subscribe(topic.into())
        } else {
            Subscription::Cancel(topic.into())
        }
    }

    /// True for a subscription, false for a cancellation.
    pub fn is_subscribe(&self) -> bool {
        matches!(self, Subscription::Subscribe(_))
    }

    /// The topic prefix.
    pub fn topic(&self) -> &Bytes {
        match self {
            Subscription::Subscribe(t) | Subscription::Cancel(t) => t,
        }
    }

    /// Reads the message form from a frame (`0x01`/`0x00` + topic; the topic is sliced
    /// from a shared frame, copied from an inline one); `None` for any other frame.
    pub fn from_frame(frame: &Frame) -> Option<Self> {
        let subscribe = match frame.first() {
            Some(1) => true,
            Some(0) => false,
            _ => return None,
        };
        Some(Subscription::new(subscribe, frame.slice(1..)))
    }

    /// Reads the message form: a message of one frame that [`Subscription::from_frame`]
    /// reads; `None` for any other message.
    pub fn from_message(msg: &Message) -> Option<Self> {
        if msg.len() != 1 {
            return None;
        }
        Self::from_frame(msg.first()?)
    }

    /// The message form's one frame: the flag byte, then the topic.
    pub fn to_frame(&self) -> Frame {
        let topic = self.topic();
        let flag = u8::from(self.is_subscribe());
        if topic.len() < Frame::INLINE_CAPACITY {
            let mut body = [flag; Frame::INLINE_CAPACITY];
            body[1..=topic.len()].copy_from_slice(topic);
            return Frame::copy_from_slice(&body[..=topic.len()]);
        }
        let mut body = BytesMut::with_capacity(topic.len() + 1);
        body.put_u8(flag);
        body.put_slice(topic);
        Frame::from(body.freeze())
    }

    /// The message form: one frame, the flag byte, then the topic.
    pub fn to_message(&self) -> Message {
        Message::from(self.to_frame())
    }
}

impl From<Subscription> for Command {
    /// SUBSCRIBE or CANCEL (ZMTP 3.1).
    fn from(sub: Subscription) -> Command {
        match sub {
            Subscription::Subscribe(topic) => Command::Subscribe(topic),
            Subscription::Cancel(topic) => Command::Cancel(topic),
        }
    }
}

impl From<Subscription> for Event {
    fn from(sub: Subscription) -> Event {
        match sub {
            Subscription::Subscribe(topic) => Event::Subscribe(topic),
            Subscription::Cancel(topic) => Event::Cancel(topic),
        }
    }
}

impl Event {
    /// The subscription a [`Event::Subscribe`] or [`Event::Cancel`] reports.
    pub fn subscription(&self) -> Option<Subscription> {
        match self {
            Event::Subscribe(topic) => Some(Subscription::Subscribe(topic.clone())),
            Event::Cancel(topic) => Some(Subscription::Cancel(topic.clone())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_form_round_trips() {
        for sub in [
            Subscription::Subscribe(Bytes::from_static(b"topic")),
            Subscription::Cancel(Bytes::new()),
        ] {
            let msg = sub.to_message();
            assert_eq!(msg.len(), 1);
            assert_eq!(Subscription::from_message(&msg), Some(sub));
        }
        assert_eq!(&Subscription::new(true, "A").to_frame()[..], b"\x01A");
        assert_eq!(&Subscription::new(false, "A").to_frame()[..], b"\x00A");
    }

    #[test]
    fn other_messages_are_not_subscriptions() {
        assert_eq!(Subscription::from_message(&Message::from("\x02x")), None);
        assert_eq!(
            Subscription::from_message(&Message::from(Bytes::new())),
            None
        );
        let two: Message = ["\x01a", "b"].into_iter().map(Bytes::from).collect();
        assert_eq!(Subscription::from_message(&two), None);
        assert!(Subscription::from_frame(&two[0]).is_some());
    }
}
