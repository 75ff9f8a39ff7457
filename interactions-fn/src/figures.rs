//! What several commands read and compute alike: how far calls in progress may be counted
//! (the sidecar's last heartbeat), a server's boards with calls in progress counted in, and
//! members' display names. Commands depend on this module; it depends on no command.

use std::collections::BTreeMap;

use callstats_core::board::{Board, Column, Live, Standings};
use callstats_core::{GuildId, Timestamp, UserId};
use callstats_store::{GuildItem, LiveCall};

use crate::context::App;
use crate::error::Failure;

/// Up to when calls in progress count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveUntil {
    pub at: Timestamp,
    /// The sidecar has not been heard from lately: live figures stop at `at`, before now.
    pub behind: bool,
}

/// Calls in progress count up to now, but never past the last heartbeat of the shard that
/// serves the server plus one heartbeat interval: while the sidecar is down, a call's time
/// stops growing instead of running on (`docs/behaviour.md`, Calls in progress).
pub async fn live_until(
    app: &App,
    guild: &GuildItem,
    now: Timestamp,
) -> Result<LiveUntil, Failure> {
    let Some(shard) = guild.shard else {
        return Ok(LiveUntil {
            at: now,
            behind: false,
        });
    };
    Ok(match app.store().shard_alive(shard).await? {
        Some((at, every)) => cap(now, at, every),
        None => LiveUntil {
            at: now,
            behind: false,
        },
    })
}

/// `now`, or the last heartbeat plus one interval when that is earlier.
#[must_use]
pub fn cap(now: Timestamp, heartbeat: Timestamp, every: u64) -> LiveUntil {
    let limit = heartbeat.plus(every);
    if limit < now {
        LiveUntil {
            at: limit,
            behind: true,
        }
    } else {
        LiveUntil {
            at: now,
            behind: false,
        }
    }
}

/// Calls in progress as the boards count them: seconds so far, up to `until`.
#[must_use]
pub fn live_map(calls: &[LiveCall], until: Timestamp) -> BTreeMap<UserId, Live> {
    calls
        .iter()
        .map(|c| {
            let (total, _active, ranked) = c.at(until);
            (c.user, Live { total, ranked })
        })
        .collect()
}

/// A board with calls in progress counted in.
#[must_use]
pub fn standings(board: &Board, column: Column, live: &BTreeMap<UserId, Live>) -> Standings {
    board.standings(column, live)
}

/// The calls in progress of a server and up to when they count, read together.
pub async fn live_calls(
    app: &App,
    guild_id: GuildId,
    guild: &GuildItem,
    now: Timestamp,
) -> Result<(Vec<LiveCall>, LiveUntil), Failure> {
    let (calls, until) = tokio::try_join!(
        async {
            app.store()
                .live_calls(guild_id)
                .await
                .map_err(Failure::from)
        },
        live_until(app, guild, now),
    )?;
    Ok((calls, until))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_time_stops_at_the_heartbeat_plus_one_interval() {
        let t = |s| Timestamp::new(s).unwrap();
        assert_eq!(
            cap(t(1000), t(990), 30),
            LiveUntil {
                at: t(1000),
                behind: false
            }
        );
        assert_eq!(
            cap(t(1000), t(900), 30),
            LiveUntil {
                at: t(930),
                behind: true
            }
        );
    }
}
