//! Plays a [`Simulation`] on a [`FakeGateway`], in real time or faster.
//!
//! The only I/O of the simulator: everything it decides comes from the pure scenario, and
//! every change goes through the fake's public control API, so a client sees exactly what a
//! scripted test would send.

use super::{Event, PastEvent, Simulation, Speed};
use crate::{Delivery, Error, FakeGateway};
use std::{collections::BTreeSet, future::Future, time::Duration};
use tokio::time::{Instant, sleep_until};

/// How long one wait for the first client lasts before it is simply started again.
const CLIENT_WAIT_ROUND: Duration = Duration::from_hours(1);

/// Gives the fake every user (name, bot-ness) and every guild as the simulation has them now,
/// with who is in voice, so the first `GUILD_CREATE` already carries voice states.
pub fn install(fake: &FakeGateway, sim: &Simulation) -> Result<(), Error> {
    for (id, spec) in sim.user_specs() {
        fake.set_user(id, spec);
    }
    for spec in sim.guild_specs() {
        fake.add_guild(spec)?;
    }
    Ok(())
}

/// Like [`install`], but with nobody in voice: for a simulation that replays a past first
/// ([`replay_past`]) and only then puts its starting cast in voice ([`arrive`]).
pub fn install_without_voice(fake: &FakeGateway, sim: &Simulation) -> Result<(), Error> {
    for (id, spec) in sim.user_specs() {
        fake.set_user(id, spec);
    }
    for mut spec in sim.guild_specs() {
        spec.voice.clear();
        fake.add_guild(spec)?;
    }
    Ok(())
}

/// Puts everyone the simulation has in voice now there, one `VOICE_STATE_UPDATE` each: the
/// starting cast of a simulation installed with [`install_without_voice`].
pub fn arrive(fake: &FakeGateway, sim: &Simulation) -> Result<Vec<Delivery>, Error> {
    let mut deliveries = Vec::new();
    for spec in sim.guild_specs() {
        for member in spec.voice {
            deliveries.push(fake.voice_update(
                spec.id,
                member.user,
                Some(member.channel),
                member.flags,
            )?);
        }
    }
    Ok(deliveries)
}

/// Replays `past` (in time order) on the fake as fast as the client takes it, with the client's
/// clock following it: for each instant, `set_clock` is called with it, the changes of that
/// instant are dispatched, and the replay waits until the client has handled them
/// ([`FakeGateway::wait_handled`]) before the clock moves on. A client that stamps each event
/// with the clock when it handles it (the sidecar reading `CALLSTATS_CLOCK_FILE`) so records
/// every change at its own instant.
pub async fn replay_past<C, E>(
    fake: &FakeGateway,
    past: &[PastEvent],
    mut set_clock: C,
) -> Result<(), E>
where
    C: FnMut(i64) -> Result<(), E>,
    E: From<Error>,
{
    for step in past.chunk_by(|a, b| a.at == b.at) {
        let Some(first) = step.first() else {
            continue;
        };
        set_clock(first.at)?;
        let mut guilds = BTreeSet::new();
        for event in step {
            let delivery =
                fake.voice_update(event.guild, event.user, event.channel, event.flags)?;
            if matches!(delivery, Delivery::Sent { .. } | Delivery::Buffered { .. }) {
                guilds.insert(event.guild);
            }
        }
        for guild in guilds {
            fake.wait_handled(guild).await?;
        }
    }
    Ok(())
}

/// Waits, however long it takes, until a client has identified (READY sent).
///
/// The scenario's clock should start here: the opening act (calls that end in the first half
/// minute) is only worth playing to a client that is there to see it.
pub async fn wait_for_client(fake: &FakeGateway) -> Result<(), Error> {
    loop {
        match fake
            .wait_counters(|c| c.ready >= 1, CLIENT_WAIT_ROUND)
            .await
        {
            Ok(_) => return Ok(()),
            Err(Error::Timeout { .. }) => {}
            Err(error) => return Err(error),
        }
    }
}

/// Plays the simulation from its current moment until `shutdown` completes: each wake-up of
/// the scenario happens when its simulated time comes, compressed by `speed`, and the event it
/// causes is applied to the fake (and so dispatched to the session owning its guild, or
/// buffered for it), then handed to `on_event` with how it was delivered.
///
/// A wake-up that is due while the driver is behind happens at once; nothing is skipped.
/// Nothing is decided before its time, so when `shutdown` completes, the simulation and the
/// fake agree on who is where, and a later `play` carries on from there.
pub async fn play<S, F>(
    fake: &FakeGateway,
    sim: &mut Simulation,
    speed: Speed,
    shutdown: S,
    mut on_event: F,
) -> Result<(), Error>
where
    S: Future<Output = ()>,
    F: FnMut(&Simulation, &Event, &Delivery),
{
    let mut shutdown = std::pin::pin!(shutdown);
    let origin = Instant::now();
    let start = sim.now();
    while let Some(at) = sim.next_due() {
        let due = origin.checked_add(speed.real(at.saturating_sub(start)));
        let wait = async {
            match due {
                Some(due) => sleep_until(due).await,
                // Further away than the clock can say: never, in practice.
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = &mut shutdown => return Ok(()),
            () = wait => {}
        }
        let Some(event) = sim.step() else {
            continue;
        };
        let delivery = fake.voice_update(event.guild, event.user, event.channel, event.flags)?;
        tracing::debug!(
            guild = %event.guild,
            user = %event.user,
            channel = ?event.channel.map(twilight_model::id::Id::get),
            kind = ?event.kind,
            ?delivery,
            "simulated voice update"
        );
        on_event(sim, &event, &delivery);
    }
    shutdown.await;
    Ok(())
}
