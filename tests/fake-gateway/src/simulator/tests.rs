//! Invariants of the scenario over many seeds, checked by replaying its events on an
//! independent model.

use super::{ChannelRole, Config, ConfigError, Event, EventKind, Simulation, Speed, World};
use crate::spec::{ChannelKind, VoiceFlags};
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    time::Duration,
};
use twilight_model::id::{
    Id,
    marker::{ChannelMarker, GuildMarker, UserMarker},
};

type Guild = Id<GuildMarker>;
type Channel = Id<ChannelMarker>;
type User = Id<UserMarker>;

const OPENING: Duration = Duration::from_secs(40);

/// What one run showed, beyond the invariants asserted while replaying it.
#[derive(Debug, Default)]
struct Seen {
    events: usize,
    /// Human calls that ended in the opening, per guild, with their lengths.
    opening_ends: BTreeMap<Guild, Vec<Duration>>,
    /// Lengths of all human calls that ended (a call is a stay in one counted channel).
    calls: Vec<Duration>,
    /// Longest time a human spent as the only human in a counted channel, among spans that
    /// began in the first ten minutes.
    longest_alone: Duration,
    /// Event kinds seen, by a short name.
    kinds: HashSet<&'static str>,
    bot_joins: usize,
    stage_entries: usize,
    /// Humans who came into a channel where one of their friends was.
    joined_a_friend: usize,
    /// Humans who came into the staff room.
    staff_room_entries: usize,
}

fn kind_name(event: &Event) -> &'static str {
    use super::Change::{SelfDeaf, SelfMute, ServerMute, Stream, Suppress, Video};
    match event.kind {
        EventKind::Joined => "joined",
        EventKind::Left { .. } => "left",
        EventKind::Moved { .. } => "moved",
        EventKind::WentAfk { .. } => "went afk",
        EventKind::CameBack => "came back",
        EventKind::Changed(SelfMute(true)) => "muted",
        EventKind::Changed(SelfMute(false)) => "unmuted",
        EventKind::Changed(SelfDeaf(true)) => "deafened",
        EventKind::Changed(SelfDeaf(false)) => "undeafened",
        EventKind::Changed(Stream(true)) => "streaming",
        EventKind::Changed(Stream(false)) => "stopped streaming",
        EventKind::Changed(Video(true)) => "video",
        EventKind::Changed(Video(false)) => "video off",
        EventKind::Changed(ServerMute(_)) => "server mute",
        EventKind::Changed(Suppress(_)) => "suppress",
    }
}

/// The replaying model: who is where, and since when in a counted channel.
struct Replay<'w> {
    world: &'w World,
    voice: HashMap<User, (Guild, Channel, VoiceFlags)>,
    call_start: HashMap<User, Duration>,
    /// (guild, channel) -> (the only human there, since).
    alone: HashMap<(Guild, Channel), (User, Duration)>,
}

impl Replay<'_> {
    fn is_bot(&self, user: User) -> bool {
        self.world.person(user).unwrap().bot
    }

    fn role(&self, guild: Guild, channel: Channel) -> ChannelRole {
        self.world
            .guild(guild)
            .unwrap()
            .channel(channel)
            .unwrap()
            .role
    }

    fn counted(&self, guild: Guild, channel: Channel) -> bool {
        self.role(guild, channel) != ChannelRole::Afk
    }

    fn humans_in(&self, guild: Guild, channel: Channel) -> Vec<User> {
        let mut users: Vec<User> = self
            .voice
            .iter()
            .filter(|(u, (g, c, _))| *g == guild && *c == channel && !self.is_bot(**u))
            .map(|(u, _)| *u)
            .collect();
        users.sort();
        users
    }

    fn friends(&self, guild: Guild, a: User, b: User) -> bool {
        self.world
            .guild(guild)
            .unwrap()
            .friend_groups
            .iter()
            .any(|group| group.contains(&a) && group.contains(&b))
    }

    fn humans_counted(&self, guild: Guild) -> usize {
        self.voice
            .iter()
            .filter(|(u, (g, c, _))| *g == guild && self.counted(*g, *c) && !self.is_bot(**u))
            .count()
    }

    /// Re-evaluates who is alone in a channel after it changed at `at`.
    fn update_alone(&mut self, guild: Guild, channel: Channel, at: Duration, seen: &mut Seen) {
        let humans = self.humans_in(guild, channel);
        let now_alone = (humans.len() == 1 && self.counted(guild, channel)).then(|| humans[0]);
        let before = self.alone.get(&(guild, channel)).copied();
        match (before, now_alone) {
            (Some((user, _)), Some(now)) if user == now => {}
            (before, now) => {
                if let Some((_, since)) = before {
                    if since < Duration::from_mins(10) {
                        seen.longest_alone = seen.longest_alone.max(at.saturating_sub(since));
                    }
                    self.alone.remove(&(guild, channel));
                }
                if let Some(user) = now {
                    self.alone.insert((guild, channel), (user, at));
                }
            }
        }
    }
}

/// Plays `horizon` of simulated time and checks every invariant on the way.
#[allow(clippy::too_many_lines)] // one replay, one place
fn run(config: &Config, horizon: Duration) -> Seen {
    let mut sim = Simulation::new(config);
    let world = sim.world().clone();
    let mut replay = Replay {
        world: &world,
        voice: HashMap::new(),
        call_start: HashMap::new(),
        alone: HashMap::new(),
    };
    let mut seen = Seen::default();

    // The starting state, as the first GUILD_CREATEs carry it.
    let specs = sim.guild_specs();
    assert_eq!(specs.len(), world.guilds().len());
    for (spec, guild) in specs.iter().zip(world.guilds()) {
        assert_eq!(spec.id, guild.id);
        assert_eq!(spec.afk_channel, Some(guild.afk_channel));
        let kinds: Vec<ChannelKind> = spec.channels.iter().map(|c| c.kind).collect();
        assert!(kinds.contains(&ChannelKind::Stage) && kinds.contains(&ChannelKind::Text));
        for member in &spec.voice {
            let channel = guild
                .channel(member.channel)
                .expect("a voice channel of the guild");
            assert!(channel.kind.is_voice());
            assert_eq!(member.bot, world.person(member.user).unwrap().bot);
            let previous = replay
                .voice
                .insert(member.user, (guild.id, member.channel, member.flags));
            assert!(previous.is_none(), "{} in voice twice", member.user);
            if !member.bot && channel.role != ChannelRole::Afk {
                replay.call_start.insert(member.user, Duration::ZERO);
            }
        }
        let humans = spec.voice.iter().filter(|m| !m.bot).count();
        let bots = spec.voice.iter().filter(|m| m.bot).count();
        assert!(
            humans >= guild.min_in_voice + 4,
            "{humans} humans in voice at the start"
        );
        assert!(bots >= 1, "a bot in voice at the start");
        for channel in &guild.channels {
            replay.update_alone(guild.id, channel.id, Duration::ZERO, &mut seen);
        }
    }

    let mut last = Duration::ZERO;
    while let Some(event) = sim.next() {
        if event.at > horizon {
            break;
        }
        seen.events += 1;
        assert!(event.at >= last, "time went backwards at {event:?}");
        last = event.at;
        let guild = world.guild(event.guild).expect("a known guild");
        let person = world.person(event.user).expect("a known user");
        assert_eq!(event.bot, person.bot, "{event:?}");
        if let Some(channel) = event.channel {
            let channel = guild
                .channel(channel)
                .expect("a voice channel of the guild");
            assert!(channel.kind.is_voice());
        }
        let before = replay.voice.get(&event.user).copied();
        let here = |c: Option<Channel>| c.expect("a channel after this event");
        match event.kind {
            EventKind::Joined => {
                assert!(
                    before.is_none(),
                    "joined while in voice: {event:?} {before:?}"
                );
                assert!(
                    replay.counted(guild.id, here(event.channel)),
                    "joined the AFK channel"
                );
            }
            EventKind::Left { from } => {
                assert_eq!(
                    before.map(|b| (b.0, b.1)),
                    Some((guild.id, from)),
                    "{event:?}"
                );
                assert!(event.channel.is_none());
            }
            EventKind::Moved { from } => {
                assert_eq!(
                    before.map(|b| (b.0, b.1)),
                    Some((guild.id, from)),
                    "{event:?}"
                );
                let to = here(event.channel);
                assert_ne!(to, from);
                assert!(replay.counted(guild.id, from) && replay.counted(guild.id, to));
            }
            EventKind::WentAfk { from } => {
                assert_eq!(
                    before.map(|b| (b.0, b.1)),
                    Some((guild.id, from)),
                    "{event:?}"
                );
                assert_ne!(from, guild.afk_channel);
                assert_eq!(event.channel, Some(guild.afk_channel));
            }
            EventKind::CameBack => {
                assert_eq!(
                    before.map(|b| (b.0, b.1)),
                    Some((guild.id, guild.afk_channel)),
                    "{event:?}"
                );
                assert_ne!(here(event.channel), guild.afk_channel);
            }
            EventKind::Changed(_) => {
                let before = before.expect("flags change of someone in voice");
                assert_eq!((before.0, before.1), (guild.id, here(event.channel)));
                assert_ne!(
                    before.2, event.flags,
                    "a change that changes nothing: {event:?}"
                );
            }
        }
        if event.bot {
            assert!(
                matches!(event.kind, EventKind::Joined | EventKind::Left { .. }),
                "bots only come and go: {event:?}"
            );
            if let Some(channel) = event.channel {
                let role = replay.role(guild.id, channel);
                assert!(role == ChannelRole::Hangout || role == ChannelRole::Focus);
                assert!(event.flags.self_deaf);
                seen.bot_joins += 1;
            }
        }
        if let Some(channel) = event.channel
            && !event.bot
            && before.is_none_or(|b| b.1 != channel)
        {
            let company = replay.humans_in(guild.id, channel);
            if company
                .iter()
                .any(|&o| replay.friends(guild.id, o, event.user))
            {
                seen.joined_a_friend += 1;
            }
            if replay.role(guild.id, channel) == ChannelRole::Private {
                assert!(guild.staff.contains(&event.user), "only staff: {event:?}");
                seen.staff_room_entries += 1;
            }
        }
        if let Some(channel) = event.channel {
            let role = replay.role(guild.id, channel);
            if role == ChannelRole::Afk {
                assert!(event.flags.suppress && !event.flags.self_stream);
            }
            if role == ChannelRole::Stage {
                assert!(!event.flags.self_stream && !event.flags.self_video);
                if before.is_none_or(|b| b.1 != channel) {
                    seen.stage_entries += 1;
                }
            }
        }
        seen.kinds.insert(kind_name(&event));

        // Calls of humans: a stay in one counted channel.
        if !event.bot {
            let left_counted = before.is_some_and(|b| replay.counted(b.0, b.1))
                && before.map(|b| b.1) != event.channel;
            if left_counted {
                let start = replay
                    .call_start
                    .remove(&event.user)
                    .expect("a call in progress");
                let length = event.at.saturating_sub(start);
                seen.calls.push(length);
                if event.at <= OPENING {
                    seen.opening_ends.entry(guild.id).or_default().push(length);
                }
            }
            let entered_counted = event.channel.is_some_and(|c| replay.counted(guild.id, c))
                && before.map(|b| b.1) != event.channel;
            if entered_counted {
                assert!(replay.call_start.insert(event.user, event.at).is_none());
            }
        }

        match event.channel {
            Some(channel) => {
                replay
                    .voice
                    .insert(event.user, (guild.id, channel, event.flags));
            }
            None => {
                replay.voice.remove(&event.user);
            }
        }
        // The scenario's own view agrees with the replay.
        assert_eq!(
            sim.voice_state(event.user),
            replay.voice.get(&event.user).copied(),
            "{event:?}"
        );
        for channel in [before.map(|b| b.1), event.channel].into_iter().flatten() {
            replay.update_alone(guild.id, channel, event.at, &mut seen);
        }
        for g in world.guilds() {
            let counted = replay.humans_counted(g.id);
            assert!(
                counted >= g.min_in_voice,
                "{} has {counted} humans in voice at {:?}, floor {}",
                g.name,
                event.at,
                g.min_in_voice
            );
        }
    }
    for ((_, _), (_, since)) in replay.alone.clone() {
        if since < Duration::from_mins(10) {
            seen.longest_alone = seen.longest_alone.max(horizon.saturating_sub(since));
        }
    }
    seen
}

#[test]
fn the_scenario_stays_consistent_over_many_seeds() {
    const HOUR: Duration = Duration::from_hours(1);
    let mut kinds = HashSet::new();
    let mut calls = Vec::new();
    let (mut joined_a_friend, mut staff_room_entries) = (0, 0);
    for seed in 0..60 {
        let config = Config::new(seed, Config::DEFAULT_GUILDS, Config::DEFAULT_MEMBERS).unwrap();
        let seen = run(&config, HOUR);
        assert_eq!(
            seen.opening_ends.len(),
            3,
            "seed {seed}: {:?}",
            seen.opening_ends
        );
        for (guild, lengths) in &seen.opening_ends {
            assert!(
                lengths.len() >= 4,
                "seed {seed}, guild {guild}: {lengths:?}"
            );
            assert!(
                lengths.iter().all(|l| *l >= Duration::from_secs(9)),
                "{lengths:?}"
            );
        }
        assert!(
            seen.longest_alone >= Duration::from_mins(1),
            "seed {seed}: {seen:?}"
        );
        for kind in [
            "joined",
            "left",
            "moved",
            "went afk",
            "came back",
            "muted",
            "unmuted",
            "deafened",
            "streaming",
            "video",
        ] {
            assert!(
                seen.kinds.contains(kind),
                "seed {seed}: no {kind} in an hour"
            );
        }
        assert!(seen.bot_joins >= 1, "seed {seed}: no bot joined in an hour");
        joined_a_friend += seen.joined_a_friend;
        staff_room_entries += seen.staff_room_entries;
        assert!(
            seen.stage_entries >= 1,
            "seed {seed}: nobody went on stage in an hour"
        );
        kinds.extend(seen.kinds);
        calls.extend(seen.calls);
    }
    // Friends call together: people who only went where others are came into a friend's
    // channel about 65 times an hour in these three guilds; friends following each other make
    // it about 95.
    assert!(
        joined_a_friend >= 85 * 60,
        "{joined_a_friend} joins to a friend in 60 hours"
    );
    // The staff use their room now and then (about twice an hour).
    assert!(
        staff_room_entries >= 60,
        "{staff_room_entries} visits of the staff room in 60 hours"
    );
    for kind in [
        "server mute",
        "suppress",
        "undeafened",
        "stopped streaming",
        "video off",
    ] {
        assert!(kinds.contains(kind), "never {kind}");
    }
    // Mostly calls of minutes.
    calls.sort();
    let median = calls[calls.len() / 2];
    assert!(
        median >= Duration::from_mins(2) && median <= Duration::from_mins(20),
        "median call {median:?}"
    );
    let over_a_minute = calls
        .iter()
        .filter(|c| **c >= Duration::from_mins(1))
        .count();
    assert!(
        over_a_minute * 10 >= calls.len() * 7,
        "{over_a_minute} of {}",
        calls.len()
    );
}

#[test]
fn small_and_large_worlds_keep_the_same_invariants() {
    for (seed, guilds, members) in [(1, 1, 8), (2, 1, 8), (3, 2, 9), (4, 6, 60), (5, 13, 17)] {
        let config = Config::new(seed, guilds, members).unwrap();
        let seen = run(&config, Duration::from_hours(2));
        assert_eq!(seen.opening_ends.len(), guilds as usize);
        assert!(seen.opening_ends.values().all(|ends| ends.len() >= 4));
        assert!(seen.events > 50 * guilds as usize, "{} events", seen.events);
    }
}

#[test]
fn a_seed_replays_the_same_events() {
    let config = Config::new(2_024, 3, 24).unwrap();
    let first: Vec<Event> = Simulation::new(&config).take(2_000).collect();
    let again: Vec<Event> = Simulation::new(&config).take(2_000).collect();
    assert_eq!(first, again);
    let other: Vec<Event> = Simulation::new(&Config::new(2_025, 3, 24).unwrap())
        .take(2_000)
        .collect();
    assert_ne!(first, other);
    // Same world whatever the seed.
    assert_eq!(
        Simulation::new(&config).world().people(),
        Simulation::new(&Config::new(7, 3, 24).unwrap())
            .world()
            .people()
    );
}

#[test]
fn events_read_as_sentences() {
    let sim = Simulation::new(&Config::new(11, 1, 24).unwrap());
    let guild = &sim.world().guilds()[0];
    let mut lines = Vec::new();
    let mut walker = sim.clone();
    for event in walker.by_ref().take(300) {
        lines.push(sim_line(&sim, &event));
    }
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with(&format!("{}: ", guild.name)))
    );
    assert!(lines.iter().any(|l| l.contains(" left ")), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" went idle in ") && l.ends_with(" to AFK"))
    );
    assert!(
        lines.iter().any(|l| l.contains(" (bot) joined ")),
        "{lines:#?}"
    );
}

fn sim_line(sim: &Simulation, event: &Event) -> String {
    sim.describe(event)
}

#[test]
fn config_and_speed_reject_what_is_out_of_range() {
    assert_eq!(Config::new(0, 0, 24), Err(ConfigError::Guilds { got: 0 }));
    assert_eq!(Config::new(0, 1, 7), Err(ConfigError::Members { got: 7 }));
    assert!(Config::new(0, 1_000, 1_000).is_ok());
    assert_eq!("60".parse::<Speed>().unwrap(), Speed::new(60.0).unwrap());
    assert_eq!(" 0.5 ".parse::<Speed>().unwrap().to_string(), "0.5");
    for bad in ["0", "-1", "NaN", "inf", "fast", "", "10001"] {
        let error = bad.parse::<Speed>().unwrap_err();
        assert!(error.to_string().contains("speed"), "{error}");
    }
    let speed = Speed::new(10.0).unwrap();
    assert_eq!(speed.real(Duration::from_mins(1)), Duration::from_secs(6));
}

mod past {
    use super::super::{Config, PAST_GUILDS, PastEvent, World, past};
    use crate::spec::DEFAULT_EVERYONE_PERMISSIONS;
    use std::collections::{BTreeMap, BTreeSet, HashMap};
    use twilight_model::id::{
        Id,
        marker::{ChannelMarker, GuildMarker, UserMarker},
    };

    type Stay = (Id<GuildMarker>, Id<ChannelMarker>, i64, i64);

    /// The end of the past in these tests: a Wednesday, 2026-11-25 15:00 UTC.
    const UNTIL: i64 = 1_795_618_800;
    const DAY: i64 = 86_400;

    /// Replays the events on an independent model, checking each, and returns every stay.
    fn stays(
        world: &World,
        events: &[PastEvent],
        from: i64,
    ) -> BTreeMap<Id<UserMarker>, Vec<Stay>> {
        // Who is where: guild, channel, since when, muted.
        let mut here: HashMap<Id<UserMarker>, (Stay, bool)> = HashMap::new();
        let mut out: BTreeMap<Id<UserMarker>, Vec<Stay>> = BTreeMap::new();
        let mut last = i64::MIN;
        for e in events {
            assert!(e.at >= last, "out of order: {e:?}");
            last = e.at;
            assert!(e.at >= from && e.at < UNTIL, "outside the past: {e:?}");
            let person = world.person(e.user).unwrap();
            assert_eq!(person.bot, e.bot);
            let guild = world.guild(e.guild).unwrap();
            match (here.get(&e.user).copied(), e.channel) {
                (None, Some(channel)) => {
                    let c = guild.channel(channel).unwrap();
                    assert!(c.kind.is_voice() && channel != guild.afk_channel, "{e:?}");
                    here.insert(e.user, ((e.guild, channel, e.at, 0), e.flags.self_mute));
                }
                (Some(((g, c, since, _), muted)), Some(channel)) => {
                    assert!(!e.bot, "bots only come and go: {e:?}");
                    assert_eq!((g, c), (e.guild, channel), "a change elsewhere: {e:?}");
                    assert_ne!(muted, e.flags.self_mute, "a change of nothing: {e:?}");
                    here.insert(e.user, ((g, c, since, 0), e.flags.self_mute));
                }
                (Some(((g, c, since, _), _)), None) => {
                    assert_eq!(g, e.guild, "left another guild: {e:?}");
                    here.remove(&e.user);
                    out.entry(e.user).or_default().push((g, c, since, e.at));
                }
                (None, None) => panic!("left without being there: {e:?}"),
            }
        }
        assert!(
            here.is_empty(),
            "still in voice when the past ends: {here:?}"
        );
        out
    }

    fn overlap(a: &Stay, b: &Stay) -> i64 {
        if (a.0, a.1) != (b.0, b.1) {
            return 0;
        }
        (a.3.min(b.3) - a.2.max(b.2)).max(0)
    }

    #[test]
    fn a_month_of_gatherings_fills_the_first_members_stats() {
        let config = Config::new(7, Config::DEFAULT_GUILDS, Config::DEFAULT_MEMBERS).unwrap();
        let world = World::new(&config);
        let events = past(&world, 7, UNTIL, 30);
        let stays = stays(&world, &events, UNTIL - 30 * DAY);
        let calls: usize = stays
            .iter()
            .filter(|(u, _)| !world.person(**u).unwrap().bot)
            .map(|(_, s)| s.len())
            .sum();
        // Enough to look lived-in, few enough to replay through the local server in seconds.
        assert!((300..=650).contains(&calls), "{calls} calls");

        let guild = &world.guilds()[0];
        let first = guild.members[0];
        let mine = &stays[&first];
        let days: BTreeSet<i64> = mine.iter().map(|s| s.2.div_euclid(DAY)).collect();
        assert!(days.len() >= 22, "calls on {} of 30 days", days.len());
        // Heatmap buckets (UTC half hours of the week) the first member's calls touch.
        let mut buckets = BTreeSet::new();
        for &(_, _, start, end) in mine {
            let mut t = start - start.rem_euclid(1_800);
            while t < end {
                buckets.insert(t.div_euclid(1_800).rem_euclid(336));
                t += 1_800;
            }
        }
        assert!(
            buckets.len() >= 100,
            "{} of 336 heatmap buckets, {} calls",
            buckets.len(),
            mine.len()
        );
        // Partners: time with others in the same channel, leaving at other times than they.
        let mut together = 0;
        let mut partners = BTreeSet::new();
        let mut same_end = 0;
        for a in mine {
            for (other, theirs) in &stays {
                if *other == first || world.person(*other).unwrap().bot {
                    continue;
                }
                for b in theirs {
                    let o = overlap(a, b);
                    if o > 0 {
                        together += o;
                        partners.insert(*other);
                        same_end += usize::from(a.3 == b.3);
                    }
                }
            }
        }
        assert!(
            together >= 50 * 3_600,
            "{} h with partners {}",
            together / 3_600,
            partners.len()
        );
        assert!(partners.len() >= 5, "{partners:?}");
        assert_eq!(same_end, 0, "friends leave at different times");

        // The server's channels: most hangouts, the stage, the focus room, and the staff room
        // (which only the staff use, and which everyone cannot view).
        let mut seconds: BTreeMap<Id<ChannelMarker>, i64> = BTreeMap::new();
        for (user, list) in &stays {
            for s in list.iter().filter(|s| s.0 == guild.id) {
                *seconds.entry(s.1).or_default() += s.3 - s.2;
                if Some(s.1) == guild.channels.last().map(|c| c.id) {
                    assert!(guild.staff.contains(user), "{user} in the staff room");
                }
            }
        }
        assert!(seconds.len() >= 5, "{seconds:?}");
        let specs = guild.channel_specs();
        let private: Vec<_> = seconds
            .keys()
            .filter(|c| {
                let spec = specs.iter().find(|s| s.id == **c).unwrap();
                !spec.everyone_can_view(DEFAULT_EVERYONE_PERMISSIONS)
            })
            .collect();
        assert_eq!(private.len(), 1, "{seconds:?}");
        // Bots came now and then; only the first guilds have a past.
        assert!(events.iter().any(|e| e.bot));
        let big = World::new(&Config::new(7, 6, 24).unwrap());
        let guilds: BTreeSet<_> = past(&big, 7, UNTIL, 30).iter().map(|e| e.guild).collect();
        assert_eq!(guilds.len(), PAST_GUILDS);
    }

    #[test]
    fn a_past_is_the_same_for_a_seed_and_ends_when_asked() {
        let world = World::new(&Config::new(1, 2, 8).unwrap());
        let a = past(&world, 3, UNTIL, 10);
        assert_eq!(a, past(&world, 3, UNTIL, 10));
        assert_ne!(a, past(&world, 4, UNTIL, 10));
        stays(&world, &a, UNTIL - 10 * DAY);
        for days in [0, 1, 2] {
            let short = past(&world, 3, UNTIL, days);
            stays(&world, &short, UNTIL - i64::from(days) * DAY);
        }
        assert!(past(&world, 3, UNTIL, 0).is_empty());
    }
}
