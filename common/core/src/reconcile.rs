//! What to do with a guild's open sessions when the sidecar sees the guild afresh (after a
//! fresh IDENTIFY, or when the guild comes back from an outage).
//!
//! The gateway tells who is in which channel now; the store tells which sessions are open.
//! Between the last moment the sidecar knew the truth (`last_seen`: its last heartbeat, or the
//! start of the guild's outage) and now, nothing was observed.

use std::collections::BTreeMap;

use crate::breakdown::Flags;
use crate::ids::{ChannelId, UserId};
use crate::session::SessionId;
use crate::time::Timestamp;

/// An open session as the reconciliation needs to see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenRef {
    pub user: UserId,
    pub channel: ChannelId,
    pub id: SessionId,
}

/// A trackable member in a voice channel now (not a bot, not in the AFK channel).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Present {
    pub user: UserId,
    pub channel: ChannelId,
    pub flags: Flags,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// End the session at `at`; the end was not observed, so it is estimated.
    End {
        user: UserId,
        id: SessionId,
        at: Timestamp,
    },
    /// The member never left as far as we can tell: the session goes on.
    Keep { user: UserId, id: SessionId },
    /// Start a session now.
    Start {
        user: UserId,
        channel: ChannelId,
        flags: Flags,
        at: Timestamp,
    },
}

/// Decides, per user: sessions of members gone end at `last_seen` (estimated); members present
/// with no session start one at `now`; a member still in the same channel keeps the session if
/// the gap `last_seen..now` was at most `max_gap_secs`, else it ends at `last_seen` and a new
/// one starts now. With no `last_seen`, no gap is short, and ends fall back to the session's
/// last accounted instant (the store clamps the end there).
///
/// Decisions come ordered by user, ends before starts.
#[must_use]
pub fn reconcile(
    open: &[OpenRef],
    present: &[Present],
    last_seen: Option<Timestamp>,
    now: Timestamp,
    max_gap_secs: u64,
) -> Vec<Decision> {
    let end_at = last_seen.unwrap_or(Timestamp::EPOCH).min(now);
    let short_gap = last_seen.is_some_and(|seen| seen.secs_until(now) <= max_gap_secs);
    let present: BTreeMap<UserId, &Present> = present.iter().map(|p| (p.user, p)).collect();
    let open_by_user: BTreeMap<UserId, &OpenRef> = open.iter().map(|o| (o.user, o)).collect();

    let mut decisions = Vec::new();
    for (user, session) in &open_by_user {
        match present.get(user) {
            Some(p) if p.channel == session.channel && short_gap => {
                decisions.push(Decision::Keep {
                    user: *user,
                    id: session.id,
                });
            }
            _ => decisions.push(Decision::End {
                user: *user,
                id: session.id,
                at: end_at,
            }),
        }
    }
    for (user, p) in &present {
        let kept = decisions
            .iter()
            .any(|d| matches!(d, Decision::Keep { user: u, .. } if u == user));
        if !kept {
            decisions.push(Decision::Start {
                user: *user,
                channel: p.channel,
                flags: p.flags,
                at: now,
            });
        }
    }
    decisions.sort_by_key(|d| match d {
        Decision::End { user, .. } | Decision::Keep { user, .. } => (*user, 0),
        Decision::Start { user, .. } => (*user, 1),
    });
    decisions
}

#[cfg(test)]
mod tests {
    use super::*;
    use twilight_model::id::Id;

    const NOW: i64 = 1_795_000_000;

    fn t(secs: i64) -> Timestamp {
        Timestamp::new(secs).unwrap()
    }

    fn open(user: u64, channel: u64) -> OpenRef {
        OpenRef {
            user: Id::new(user),
            channel: Id::new(channel),
            id: SessionId::new(t(NOW - 3600), user as u32),
        }
    }

    fn present(user: u64, channel: u64) -> Present {
        Present {
            user: Id::new(user),
            channel: Id::new(channel),
            flags: Flags::MUTED,
        }
    }

    #[test]
    fn gone_members_end_at_last_seen_and_new_ones_start_now() {
        let seen = Some(t(NOW - 100));
        let d = reconcile(&[open(1, 10)], &[present(2, 10)], seen, t(NOW), 300);
        assert_eq!(
            d,
            vec![
                Decision::End {
                    user: Id::new(1),
                    id: open(1, 10).id,
                    at: t(NOW - 100)
                },
                Decision::Start {
                    user: Id::new(2),
                    channel: Id::new(10),
                    flags: Flags::MUTED,
                    at: t(NOW)
                },
            ]
        );
    }

    #[test]
    fn stayer_keeps_session_after_short_gap() {
        let d = reconcile(
            &[open(1, 10)],
            &[present(1, 10)],
            Some(t(NOW - 300)),
            t(NOW),
            300,
        );
        assert_eq!(
            d,
            vec![Decision::Keep {
                user: Id::new(1),
                id: open(1, 10).id
            }]
        );
    }

    #[test]
    fn stayer_restarts_after_long_gap() {
        let d = reconcile(
            &[open(1, 10)],
            &[present(1, 10)],
            Some(t(NOW - 301)),
            t(NOW),
            300,
        );
        assert_eq!(
            d,
            vec![
                Decision::End {
                    user: Id::new(1),
                    id: open(1, 10).id,
                    at: t(NOW - 301)
                },
                Decision::Start {
                    user: Id::new(1),
                    channel: Id::new(10),
                    flags: Flags::MUTED,
                    at: t(NOW)
                },
            ]
        );
    }

    #[test]
    fn moved_member_ends_and_starts() {
        let d = reconcile(
            &[open(1, 10)],
            &[present(1, 11)],
            Some(t(NOW - 5)),
            t(NOW),
            300,
        );
        assert_eq!(d.len(), 2);
        assert!(matches!(d[0], Decision::End { .. }));
        assert!(matches!(d[1], Decision::Start { channel, .. } if channel == Id::new(11)));
    }

    #[test]
    fn unknown_last_seen_never_keeps() {
        let d = reconcile(&[open(1, 10)], &[present(1, 10)], None, t(NOW), 300);
        assert!(matches!(d[0], Decision::End { at, .. } if at == Timestamp::EPOCH));
        assert!(matches!(d[1], Decision::Start { .. }));
    }

    #[test]
    fn last_seen_in_the_future_ends_now() {
        let d = reconcile(&[open(1, 10)], &[], Some(t(NOW + 50)), t(NOW), 300);
        assert_eq!(
            d,
            vec![Decision::End {
                user: Id::new(1),
                id: open(1, 10).id,
                at: t(NOW)
            }]
        );
    }

    #[test]
    fn nothing_open_nothing_present() {
        assert!(reconcile(&[], &[], Some(t(NOW)), t(NOW), 300).is_empty());
    }
}
