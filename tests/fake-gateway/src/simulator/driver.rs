//! Plays a [`Simulation`] on a [`FakeGateway`], in real time or faster.
//!
//! The only I/O of the simulator: everything it decides comes from the pure scenario, and
//! every change goes through the fake's public control API, so a client sees exactly what a
//! scripted test would send.

use super::{Event, Simulation, Speed};
use crate::{Delivery, Error, FakeGateway};
use std::{future::Future, time::Duration};
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
