//! Voice changes: random ones, made in the world and on the fake and recorded for the oracle
//! when the program sees them, or buffered for a resume when it cannot.

use callstats_fake_gateway::{Delivery, shard_of};

use super::world::{
    AFK, STAGE, VOICE_A, VOICE_B, bot, chan, flip, guild, human, opted_out, random_flags,
    to_voice_flags,
};
use super::{Change, Driver, HUMANS, SHARDS};
use crate::model::oracle::Place;
use callstats_core::Timestamp;

impl Driver {
    /// A random voice change: who, where, with which flags.
    pub(super) fn random_change(&mut self) -> Change {
        let n = 1 + self.rng.below(3);
        let g = guild(n);
        let r = self.rng.unit();
        let user = if r < 0.08 {
            opted_out()
        } else if r < 0.16 {
            bot(self.rng.below(2))
        } else {
            human(1 + self.rng.below(HUMANS))
        };
        let channels = [VOICE_A, VOICE_A, VOICE_B, VOICE_B, STAGE, AFK];
        let current = self.world[&g].get(&user).copied();
        let place = match current {
            None => Some(Place {
                channel: chan(n, channels[self.rng.below(6) as usize]),
                flags: random_flags(&mut self.rng),
            }),
            Some(p) => {
                let r = self.rng.unit();
                if r < 0.3 {
                    None
                } else if r < 0.55 {
                    Some(Place {
                        channel: chan(n, channels[self.rng.below(6) as usize]),
                        flags: p.flags,
                    })
                } else {
                    let mut flags = p.flags;
                    flip(&mut self.rng, &mut flags);
                    Some(Place {
                        channel: p.channel,
                        flags,
                    })
                }
            }
        };
        Change {
            guild: g,
            user,
            place,
            bot: self.bots.contains(&user),
        }
    }

    /// Makes `change` happen in the world and on the fake at the current instant; records
    /// what the program will see. Returns the shard and sequence to wait for when sent.
    pub(super) fn apply(&mut self, change: Change) -> Option<(u32, u64)> {
        let world = self.world.get_mut(&change.guild).expect("known guild");
        match change.place {
            Some(p) => world.insert(change.user, p),
            None => world.remove(&change.user),
        };
        let delivery = self
            .fake
            .voice_update(
                change.guild,
                change.user,
                change.place.map(|p| p.channel),
                change
                    .place
                    .map(|p| to_voice_flags(p.flags))
                    .unwrap_or_default(),
            )
            .expect("script a voice change");
        self.report.events += 1;
        self.record(change, &delivery)
    }

    pub(super) fn record(&mut self, change: Change, delivery: &Delivery) -> Option<(u32, u64)> {
        let shard = shard_of(change.guild, SHARDS);
        match delivery {
            Delivery::Sent { seq, .. } => {
                let now = self.now();
                self.oracle
                    .voice(change.guild, change.user, change.place, change.bot, now);
                Some((shard, *seq))
            }
            Delivery::Buffered { .. } => {
                self.buffered.entry(shard).or_default().push(change);
                None
            }
            _ => None,
        }
    }

    /// One to three voice changes at the current instant, handled by the program.
    pub(super) async fn events(&mut self) {
        let count = 1 + self.rng.below(3);
        let mut sent = Vec::new();
        for _ in 0..count {
            let change = self.random_change();
            sent.extend(self.apply(change));
        }
        self.wait_sent(&sent).await;
    }

    /// `count` voice changes, the clock moving on before each; each one the program sees is
    /// handled before the next (while a shard is away, events on the other shard arrive as
    /// usual).
    pub(super) async fn events_one_by_one(&mut self, count: u64) {
        for _ in 0..count {
            self.advance();
            let change = self.random_change();
            let sent: Vec<(u32, u64)> = self.apply(change).into_iter().collect();
            self.wait_sent(&sent).await;
        }
    }

    /// Voice changes while the program cannot see them (down, or its shard disconnected),
    /// over `[from, until)`, the clock moving on between them.
    pub(super) fn unseen_events(&mut self, until: Timestamp) {
        let count = self.rng.below(5);
        for _ in 0..count {
            let now = self.now();
            if now.secs_until(until) > 1 {
                let step = 1 + self.rng.below(now.secs_until(until) - 1);
                self.clock.set(now.plus(step));
            }
            let change = self.random_change();
            let sent = self.apply(change);
            assert!(
                sent.is_none(),
                "seed {}: a dispatch reached a program that should not see it",
                self.report.seed
            );
        }
    }
}
