//! Who and where: the simulated guilds, their channels and their members.
//!
//! The world depends only on the number of guilds and members, never on the seed, so a guild
//! or a user keeps its id and name from one run to the next: stats gathered in a local table
//! keep adding up, and an id noted yesterday can still be looked up today. The seed decides
//! behaviour only.

use super::Config;
use crate::spec::{ChannelKind, ChannelSpec};
use std::collections::BTreeMap;
use twilight_model::id::{
    Id,
    marker::{ChannelMarker, GuildMarker, RoleMarker, UserMarker},
};

/// Discord's epoch (2015-01-01T00:00:00Z) in unix milliseconds.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;
/// Guild creation dates start on 2019-03-01, one guild a day.
const GUILDS_FROM_MS: u64 = 1_551_398_400_000;
/// Humans signed up from 2016-06-01, one a minute.
const HUMANS_FROM_MS: u64 = 1_464_739_200_000;
/// Bot accounts were made from 2018-06-01, one a minute.
const BOTS_FROM_MS: u64 = 1_527_811_200_000;
const DAY_MS: u64 = 86_400_000;
const MINUTE_MS: u64 = 60_000;

/// Seconds of inactivity before Discord moves someone to the AFK channel, as announced.
pub(crate) const AFK_TIMEOUT_SECS: u16 = 300;

const GUILD_NAMES: [&str; 12] = [
    "Study Hall",
    "Night Owls",
    "Synth Club",
    "Raid Night",
    "Book Nook",
    "Pixel Forge",
    "Trail Runners",
    "Chess Corner",
    "Film Society",
    "Garden Gang",
    "Code Dojo",
    "Jam Session",
];

const HANGOUT_NAMES: [&str; 6] = [
    "Lounge",
    "Gaming",
    "Music",
    "Chill",
    "Workshop",
    "Late Night",
];

const HUMAN_NAMES: [&str; 64] = [
    "ada", "bruno", "chloe", "dmitri", "elif", "farah", "gus", "hana", "ivan", "jules", "kenji",
    "lena", "mateo", "nadia", "oscar", "priya", "quinn", "rosa", "sami", "tomas", "uma", "viktor",
    "wren", "xavi", "yara", "zoe", "aiko", "bex", "cyrus", "dara", "emil", "fern", "gio", "hugo",
    "iris", "jonas", "kira", "leo", "mila", "noor", "otto", "pia", "rafael", "sofia", "theo",
    "ulla", "vera", "wes", "ximena", "yusuf", "zara", "anouk", "basil", "cleo", "dev", "esme",
    "felix", "greta", "hiro", "ines", "jasper", "kai", "luna", "marek",
];

const BOT_NAMES: [&str; 4] = ["jukebox", "scribe", "tempo", "pollster"];

/// Nicknames some members take in their guild: a title and their name.
const NICK_TITLES: [&str; 6] = ["DJ", "Captain", "Doc", "Coach", "Sir", "Lady"];

/// Members of a friend group: they often call together.
const FRIENDS_PER_GROUP: usize = 3;

/// What a channel is for in the simulation.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum ChannelRole {
    /// A voice channel where people meet, move between, stream and turn video on.
    Hangout,
    /// The voice channel where one member sits alone for long stretches; others rarely visit.
    Focus,
    /// The stage channel: a speaker or two and a suppressed audience.
    Stage,
    /// The guild's AFK channel.
    Afk,
    /// A voice channel only the staff (a moderator role) can view: `@everyone` is denied
    /// `VIEW_CHANNEL` there.
    Private,
}

/// A voice or stage channel of a simulated guild.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct SimChannel {
    /// Channel id.
    pub id: Id<ChannelMarker>,
    /// Display name.
    pub name: String,
    /// Voice or stage.
    pub kind: ChannelKind,
    /// What the simulation uses it for.
    pub role: ChannelRole,
}

/// A simulated guild.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct SimGuild {
    /// Guild id.
    pub id: Id<GuildMarker>,
    /// Guild name.
    pub name: String,
    /// The one text channel (`general`).
    pub text_channel: Id<ChannelMarker>,
    /// Voice and stage channels: the hangouts, then the focus room, the stage, the AFK channel
    /// and the staff room.
    pub channels: Vec<SimChannel>,
    /// The AFK channel.
    pub afk_channel: Id<ChannelMarker>,
    /// Human members, the guild's own first and then those shared with the first guild.
    pub members: Vec<Id<UserMarker>>,
    /// Bot members.
    pub bots: Vec<Id<UserMarker>>,
    /// Members whose first calls end within the first 40 simulated seconds.
    pub early_leavers: Vec<Id<UserMarker>>,
    /// The member who sits alone in the focus room.
    pub loner: Id<UserMarker>,
    /// Humans outside the AFK channel never drop below this many (counting only those not
    /// about to leave in the opening minute).
    pub min_in_voice: usize,
    /// The moderator role: the only one that views the staff room.
    pub moderator_role: Id<RoleMarker>,
    /// The staff: the members with the moderator role, who call in the staff room.
    pub staff: Vec<Id<UserMarker>>,
    /// Groups of friends among the guild's own members, who often call together.
    pub friend_groups: Vec<Vec<Id<UserMarker>>>,
    /// Nicknames members took in this guild.
    pub nicknames: BTreeMap<Id<UserMarker>, String>,
}

impl SimGuild {
    /// The voice or stage channel with this id.
    #[must_use]
    pub fn channel(&self, id: Id<ChannelMarker>) -> Option<&SimChannel> {
        self.channels.iter().find(|c| c.id == id)
    }

    /// Channel specs for the fake gateway, the text channel first.
    #[must_use]
    pub fn channel_specs(&self) -> Vec<ChannelSpec> {
        let mut specs = vec![ChannelSpec::text(self.text_channel, "general")];
        specs.extend(self.channels.iter().map(|c| {
            let spec = match c.kind {
                ChannelKind::Stage => ChannelSpec::stage(c.id, c.name.clone()),
                ChannelKind::Text => ChannelSpec::text(c.id, c.name.clone()),
                ChannelKind::Voice => ChannelSpec::voice(c.id, c.name.clone()),
            };
            if c.role == ChannelRole::Private {
                spec.private(self.moderator_role)
            } else {
                spec
            }
        }));
        specs
    }
}

/// A simulated user account.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct Person {
    /// User id.
    pub id: Id<UserMarker>,
    /// Username.
    pub name: String,
    /// Global display name, when the person set one.
    pub global_name: Option<String>,
    /// Whether the account is a bot.
    pub bot: bool,
    /// The guild the person belongs to first (humans may belong to more).
    pub home: Id<GuildMarker>,
}

/// Parts a person plays; decided by position in the guild, not by the seed.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Role {
    /// In voice at the start, leaves within the first half minute.
    QuickLeaver,
    /// Joins in the first seconds, leaves within the first half minute.
    QuickVisitor,
    /// In voice at the start, goes AFK within the first half minute and comes back.
    AfkRegular,
    /// In voice at the start, moves to another channel within the first 40 seconds.
    Mover,
    /// Sits alone in the focus room.
    Loner,
    /// Everyone else.
    Regular,
    /// A bot account: joins where people are, never counted.
    Bot,
}

/// Index-based view of a guild for the scenario.
#[derive(Clone, Debug)]
pub(crate) struct GuildLayout {
    /// Indexes into `World::people` of human members.
    pub(crate) members: Vec<usize>,
    /// Indexes into `World::people` of bots.
    pub(crate) bots: Vec<usize>,
    /// Indexes into `SimGuild::channels`.
    pub(crate) hangouts: Vec<usize>,
    pub(crate) focus: usize,
    pub(crate) stage: usize,
    pub(crate) afk: usize,
    pub(crate) private: usize,
    /// Indexes into `World::people` of the staff.
    pub(crate) staff: Vec<usize>,
    /// Indexes into `World::people` of each friend group.
    pub(crate) friends: Vec<Vec<usize>>,
}

/// Guilds, channels and people of a simulation.
#[derive(Clone, Debug)]
pub struct World {
    guilds: Vec<SimGuild>,
    people: Vec<Person>,
    pub(crate) layouts: Vec<GuildLayout>,
    pub(crate) roles: Vec<Role>,
    /// Indexes of the guilds each person belongs to, home first.
    pub(crate) memberships: Vec<Vec<usize>>,
    guild_index: BTreeMap<Id<GuildMarker>, usize>,
    person_index: BTreeMap<Id<UserMarker>, usize>,
}

fn snowflake(unix_ms: u64) -> u64 {
    (unix_ms - DISCORD_EPOCH_MS) << 22
}

/// `ada` as a display name: `Ada`.
fn capitalized(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// A guild's voice and stage channels: the hangouts, then the others. New channels go last,
/// so the ids of the ones before never change.
fn guild_channels(
    hangouts: usize,
    channel_id: impl Fn(usize) -> Id<ChannelMarker>,
) -> Vec<SimChannel> {
    let mut channels: Vec<SimChannel> = (0..hangouts)
        .map(|h| SimChannel {
            id: channel_id(1 + h),
            name: HANGOUT_NAMES[h].to_owned(),
            kind: ChannelKind::Voice,
            role: ChannelRole::Hangout,
        })
        .collect();
    let extra = [
        ("Focus Room", ChannelKind::Voice, ChannelRole::Focus),
        ("Town Hall", ChannelKind::Stage, ChannelRole::Stage),
        ("AFK", ChannelKind::Voice, ChannelRole::Afk),
        ("Staff Room", ChannelKind::Voice, ChannelRole::Private),
    ];
    for (n, (name, kind, role)) in extra.into_iter().enumerate() {
        channels.push(SimChannel {
            id: channel_id(1 + hangouts + n),
            name: name.to_owned(),
            kind,
            role,
        });
    }
    channels
}

fn numbered(names: &[&str], index: usize) -> String {
    let base = names[index % names.len()];
    match index / names.len() {
        0 => base.to_owned(),
        round => format!("{base}{}", round + 1),
    }
}

impl World {
    pub(crate) fn new(config: &Config) -> Self {
        let guild_count = config.guilds() as usize;
        let own = config.members() as usize;
        let bots_per_guild = 1 + own / 16;
        let hangouts = (3 + own / 16).min(HANGOUT_NAMES.len());
        let mut world = Self {
            guilds: Vec::with_capacity(guild_count),
            people: Vec::new(),
            layouts: Vec::with_capacity(guild_count),
            roles: Vec::new(),
            memberships: Vec::new(),
            guild_index: BTreeMap::new(),
            person_index: BTreeMap::new(),
        };
        for g in 0..guild_count {
            let created = GUILDS_FROM_MS + g as u64 * DAY_MS;
            let guild_id = Id::new(snowflake(created));
            let channel_id = |n: usize| Id::new(snowflake(created + MINUTE_MS + n as u64 * 1_000));
            let channels = guild_channels(hangouts, channel_id);
            let mut members = Vec::with_capacity(own + 2);
            for m in 0..own {
                let global = g * own + m;
                let id = Id::new(snowflake(HUMANS_FROM_MS + global as u64 * MINUTE_MS));
                let role = match m {
                    0 => Role::QuickLeaver,
                    1 => Role::QuickVisitor,
                    2 => Role::AfkRegular,
                    3 => Role::Mover,
                    4 => Role::Loner,
                    _ => Role::Regular,
                };
                members.push(world.add_person(id, numbered(&HUMAN_NAMES, global), false, g, role));
            }
            // Two regulars of the first guild are members everywhere.
            if g > 0 {
                for shared in world.layouts[0].members.iter().skip(5).take(2).copied() {
                    world.memberships[shared].push(g);
                    members.push(shared);
                }
            }
            let mut bots = Vec::with_capacity(bots_per_guild);
            for b in 0..bots_per_guild {
                let global = g * bots_per_guild + b;
                let id = Id::new(snowflake(BOTS_FROM_MS + global as u64 * MINUTE_MS));
                bots.push(world.add_person(id, numbered(&BOT_NAMES, b), true, g, Role::Bot));
            }
            let (friends, staff, nicknames) = world.social(g, &members[..own]);
            let layout = GuildLayout {
                members,
                bots,
                hangouts: (0..hangouts).collect(),
                focus: hangouts,
                stage: hangouts + 1,
                afk: hangouts + 2,
                private: hangouts + 3,
                staff,
                friends,
            };
            let ids = |list: &[usize]| -> Vec<Id<UserMarker>> {
                list.iter().map(|&p| world.people[p].id).collect()
            };
            let guild = SimGuild {
                id: guild_id,
                name: match g / GUILD_NAMES.len() {
                    0 => GUILD_NAMES[g].to_owned(),
                    round => format!("{} {}", GUILD_NAMES[g % GUILD_NAMES.len()], round + 1),
                },
                text_channel: channel_id(0),
                afk_channel: channels[layout.afk].id,
                channels,
                members: ids(&layout.members),
                bots: ids(&layout.bots),
                early_leavers: ids(&layout.members[..4]),
                loner: world.people[layout.members[4]].id,
                min_in_voice: (own / 8).max(2),
                moderator_role: Id::new(snowflake(created + 2 * MINUTE_MS)),
                staff: ids(&layout.staff),
                friend_groups: layout.friends.iter().map(|group| ids(group)).collect(),
                nicknames,
            };
            world.guild_index.insert(guild.id, g);
            world.guilds.push(guild);
            world.layouts.push(layout);
        }
        world
    }

    /// Who is friends with whom, who is staff and who took a nickname, among guild `g`'s own
    /// members: the first member and the two shared with every guild are friends, the other
    /// regulars go in threes; members 1 to 3 are staff; one in four has a nickname.
    #[allow(clippy::type_complexity)] // three plain lists
    fn social(
        &self,
        g: usize,
        own: &[usize],
    ) -> (
        Vec<Vec<usize>>,
        Vec<usize>,
        BTreeMap<Id<UserMarker>, String>,
    ) {
        let shared = self
            .layouts
            .first()
            .map_or(&own[5..7], |first| &first.members[5..7]);
        let mut friends = vec![
            std::iter::once(own[0])
                .chain(shared.iter().copied())
                .collect(),
        ];
        friends.extend(
            own[7..]
                .chunks(FRIENDS_PER_GROUP)
                .filter(|group| group.len() > 1)
                .map(<[usize]>::to_vec),
        );
        let mut nicknames = BTreeMap::new();
        for (m, &person) in own.iter().enumerate().filter(|(m, _)| m % 4 == 2) {
            let title = NICK_TITLES[(g + m / 4) % NICK_TITLES.len()];
            let name = capitalized(&self.people[person].name);
            nicknames.insert(self.people[person].id, format!("{title} {name}"));
        }
        (friends, own[1..4].to_vec(), nicknames)
    }

    fn add_person(
        &mut self,
        id: Id<UserMarker>,
        name: String,
        bot: bool,
        guild: usize,
        role: Role,
    ) -> usize {
        let index = self.people.len();
        let home = Id::new(snowflake(GUILDS_FROM_MS + guild as u64 * DAY_MS));
        // Two humans in three set a global name.
        let global_name = (!bot && index % 3 != 1).then(|| capitalized(&name));
        self.people.push(Person {
            id,
            name,
            global_name,
            bot,
            home,
        });
        self.roles.push(role);
        self.memberships.push(vec![guild]);
        self.person_index.insert(id, index);
        index
    }

    /// The guilds, in order.
    #[must_use]
    pub fn guilds(&self) -> &[SimGuild] {
        &self.guilds
    }

    /// Every user account, humans and bots.
    #[must_use]
    pub fn people(&self) -> &[Person] {
        &self.people
    }

    /// The guild with this id.
    #[must_use]
    pub fn guild(&self, id: Id<GuildMarker>) -> Option<&SimGuild> {
        self.guild_index.get(&id).map(|&g| &self.guilds[g])
    }

    /// The person with this id.
    #[must_use]
    pub fn person(&self, id: Id<UserMarker>) -> Option<&Person> {
        self.person_index.get(&id).map(|&p| &self.people[p])
    }

    pub(crate) fn guild_at(&self, index: usize) -> &SimGuild {
        &self.guilds[index]
    }

    pub(crate) fn person_at(&self, index: usize) -> &Person {
        &self.people[index]
    }
}

#[cfg(test)]
mod tests {
    use super::{ChannelRole, World};
    use crate::simulator::Config;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_snowflakes_and_do_not_depend_on_the_seed() {
        let world = World::new(&Config::new(1, 14, 70).unwrap());
        let mut ids = HashSet::new();
        for (index, guild) in world.guilds().iter().enumerate() {
            assert!(ids.insert(guild.id.get()));
            assert!(ids.insert(guild.text_channel.get()));
            for channel in &guild.channels {
                assert!(ids.insert(channel.id.get()));
            }
            let shared = if index == 0 { 0 } else { 2 };
            assert_eq!(guild.members.len(), 70 + shared);
            assert_eq!(guild.bots.len(), 1 + 70 / 16);
            assert_eq!(
                guild
                    .channels
                    .iter()
                    .filter(|c| c.role == ChannelRole::Afk)
                    .count(),
                1
            );
        }
        for person in world.people() {
            assert!(ids.insert(person.id.get()), "{person:?}");
            // Snowflakes of accounts made after 2015, with realistic length.
            assert!(person.id.get() > 1 << 22 && person.id.get().to_string().len() >= 17);
        }
        // Names as a board shows them: global names for most, nicknames for some, one
        // private channel (the staff room) only the moderators view.
        let humans: Vec<_> = world.people().iter().filter(|p| !p.bot).collect();
        let global = humans.iter().filter(|p| p.global_name.is_some()).count();
        assert!(
            global * 3 >= humans.len() * 2 - 3,
            "{global} of {}",
            humans.len()
        );
        assert!(
            world
                .people()
                .iter()
                .filter(|p| p.bot)
                .all(|p| p.global_name.is_none())
        );
        for guild in world.guilds() {
            assert!(guild.nicknames.len() >= 70 / 4, "{:?}", guild.nicknames);
            let specs = guild.channel_specs();
            let everyone = crate::spec::DEFAULT_EVERYONE_PERMISSIONS;
            let private: Vec<&str> = specs
                .iter()
                .filter(|c| c.kind.is_voice() && !c.everyone_can_view(everyone))
                .map(|c| c.name.as_str())
                .collect();
            assert_eq!(private, ["Staff Room"]);
            assert_eq!(guild.staff.len(), 3);
            assert!(guild.friend_groups.iter().all(|g| g.len() >= 2));
        }
        let names: HashSet<&str> = world.guilds().iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names.len(), 14, "{names:?}");
        assert!(names.contains("Study Hall 2"));
        let other = World::new(&Config::new(99, 14, 70).unwrap());
        assert_eq!(other.guilds(), world.guilds());
        assert_eq!(other.people(), world.people());
    }
}
