//! What a command or button comes to: a reply now, or a reply now and work that finishes in
//! the background (its result replaces the reply through the interaction webhook).

use crate::background::Ticket;
use crate::reply::Reply;

#[derive(Debug)]
pub enum Answer {
    /// The whole answer.
    Now(Reply),
    /// `ack` now ("deferred"), then `ticket`'s job in the background.
    Later { ticket: Ticket, ack: Reply },
    /// `reply` now, and `then`'s job in the background, which edits nothing.
    NowThen { reply: Reply, then: Ticket },
}

impl From<Reply> for Answer {
    fn from(reply: Reply) -> Self {
        Self::Now(reply)
    }
}
