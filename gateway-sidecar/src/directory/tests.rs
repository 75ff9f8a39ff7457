use super::*;
use twilight_model::id::Id;

const GUILD: u64 = 1 << 22;

fn at(secs: i64) -> Timestamp {
    Timestamp::new(1_795_000_000 + secs).unwrap()
}

fn guild() -> GuildId {
    Id::new(GUILD)
}

fn session(user: u64, start: i64) -> SessionId {
    SessionId::new(at(start), u32::try_from(user).unwrap())
}

fn member(user: u64, name: &str) -> SeenMember {
    SeenMember {
        user: Id::new(user),
        bot: false,
        name: name.to_owned(),
    }
}

fn name(user: u64, name: &str) -> DirectoryWrite {
    DirectoryWrite::Name {
        guild: guild(),
        user: Id::new(user),
        name: name.to_owned(),
    }
}

fn public(channels: &[u64]) -> DirectoryWrite {
    DirectoryWrite::PublicChannels {
        guild: guild(),
        channels: channels.iter().map(|c| Id::new(*c)).collect(),
    }
}

fn voice(id: u64, everyone: Option<Overwrite>) -> ChannelView {
    ChannelView {
        id: Id::new(id),
        voice: true,
        everyone,
    }
}

const DENY_VIEW: Option<Overwrite> = Some(Overwrite {
    allow: Permissions::empty(),
    deny: Permissions::VIEW_CHANNEL,
});

fn defaults() -> Permissions {
    Permissions::VIEW_CHANNEL | Permissions::CONNECT | Permissions::SPEAK
}

#[test]
fn display_name_prefers_nickname_then_global_name_then_username() {
    assert_eq!(display_name(Some("Ace"), Some("Alice"), "alice"), "Ace");
    assert_eq!(display_name(None, Some("Alice"), "alice"), "Alice");
    assert_eq!(display_name(None, None, "alice"), "alice");
    assert_eq!(display_name(Some(""), Some("Alice"), "alice"), "Alice");
    assert_eq!(display_name(Some(""), Some(""), "alice"), "alice");
}

#[test]
fn everyone_views_by_discords_order_of_overwrites() {
    let view = Permissions::VIEW_CHANNEL;
    let none = Permissions::empty();
    let ow = |allow, deny| Some(Overwrite { allow, deny });
    // (role permissions, overwrite for @everyone, viewable)
    let cases = [
        (defaults(), None, true),
        (defaults(), ow(none, none), true),
        (
            defaults(),
            ow(Permissions::CONNECT, Permissions::SPEAK),
            true,
        ),
        (defaults(), ow(none, view), false),
        (defaults(), ow(none, view | Permissions::CONNECT), false),
        // The role cannot view, the channel lets everyone in.
        (Permissions::CONNECT, None, false),
        (Permissions::CONNECT, ow(view, none), true),
        // Allows are applied after denies.
        (defaults(), ow(view, view), true),
        // ADMINISTRATOR on @everyone sees past every overwrite.
        (Permissions::ADMINISTRATOR, ow(none, view), true),
    ];
    for (role, overwrite, viewable) in cases {
        assert_eq!(
            everyone_can_view(role, overwrite),
            viewable,
            "{role:?} {overwrite:?}"
        );
    }
}

#[test]
fn public_channels_follow_guild_create_channel_and_role_events() {
    let mut d = Directory::new();
    let text = ChannelView {
        id: Id::new(5),
        voice: false,
        everyone: None,
    };
    let writes = d.guild_create(
        guild(),
        Some(defaults()),
        [text, voice(10, None), voice(11, DENY_VIEW), voice(12, None)],
        [],
        |_| true,
        at(0),
    );
    assert_eq!(writes, [public(&[10, 12])]);
    // A GUILD_CREATE again (after an outage) with nothing changed writes nothing.
    let same = [voice(10, None), voice(11, DENY_VIEW), voice(12, None)];
    assert!(
        d.guild_create(guild(), Some(defaults()), same, [], |_| true, at(1))
            .is_empty()
    );
    // A channel made private, a new one, a renamed one (no change), a deleted one.
    assert_eq!(
        d.channel_changed(guild(), voice(12, DENY_VIEW)),
        Some(public(&[10]))
    );
    assert_eq!(
        d.channel_changed(guild(), voice(13, None)),
        Some(public(&[10, 13]))
    );
    assert_eq!(d.channel_changed(guild(), voice(13, None)), None);
    assert_eq!(d.channel_changed(guild(), text), None);
    assert_eq!(d.channel_deleted(guild(), Id::new(10)), Some(public(&[13])));
    assert_eq!(d.channel_deleted(guild(), Id::new(10)), None);
    // @everyone loses VIEW_CHANNEL: only a channel that allows it stays.
    let allow = Some(Overwrite {
        allow: Permissions::VIEW_CHANNEL,
        deny: Permissions::empty(),
    });
    assert_eq!(
        d.channel_changed(guild(), voice(14, allow)),
        Some(public(&[13, 14]))
    );
    assert_eq!(
        d.everyone_changed(guild(), Permissions::CONNECT),
        Some(public(&[14]))
    );
    assert_eq!(
        d.everyone_changed(guild(), defaults()),
        Some(public(&[13, 14]))
    );
}

#[test]
fn events_of_an_unseen_guild_or_without_the_everyone_role_write_nothing() {
    let mut d = Directory::new();
    assert_eq!(d.channel_changed(guild(), voice(10, None)), None);
    assert_eq!(d.channel_deleted(guild(), Id::new(10)), None);
    assert_eq!(d.everyone_changed(guild(), defaults()), None);
    let writes = d.guild_create(guild(), None, [voice(10, None)], [], |_| true, at(0));
    assert!(writes.is_empty(), "{writes:?}");
    assert_eq!(d.channel_changed(guild(), voice(11, None)), None);
    // The role's first update makes the list known.
    assert_eq!(
        d.everyone_changed(guild(), defaults()),
        Some(public(&[10, 11]))
    );
    d.remove_guild(guild());
    assert_eq!(d.channel_changed(guild(), voice(12, None)), None);
}

#[test]
fn names_are_written_once_per_change_and_never_for_bots() {
    let mut d = Directory::new();
    let writes = d.guild_create(
        guild(),
        Some(defaults()),
        [],
        [
            member(1, "Ace"),
            SeenMember {
                bot: true,
                ..member(2, "jukebox")
            },
        ],
        |_| true,
        at(0),
    );
    assert_eq!(writes, [public(&[]), name(1, "Ace")]);
    assert_eq!(d.seen(guild(), member(1, "Ace"), true, at(1)), None);
    assert_eq!(
        d.seen(guild(), member(1, "Ace of Spades"), true, at(2)),
        Some(name(1, "Ace of Spades"))
    );
    let bot = SeenMember {
        bot: true,
        ..member(2, "jukebox 2")
    };
    assert_eq!(d.seen(guild(), bot, true, at(3)), None);
    assert!(d.recheck(guild(), |_| true, at(4)).is_empty());
}

#[test]
fn a_name_waits_until_the_store_records_the_member() {
    let mut d = Directory::new();
    let recorded = |u: UserId| u.get() == 1;
    // While the guild waits for the store, nobody is recorded yet.
    let writes = d.guild_create(
        guild(),
        Some(defaults()),
        [],
        [member(1, "Ace"), member(3, "Opted Out")],
        |_| false,
        at(0),
    );
    assert_eq!(writes, [public(&[])]);
    // Reconciled: the store refused member 3.
    assert_eq!(d.recheck(guild(), recorded, at(1)), [name(1, "Ace")]);
    assert!(d.recheck(guild(), recorded, at(2)).is_empty());

    // A member who joins: the start is on its way, the name waits for its outcome.
    d.started(guild(), Id::new(4), session(4, 3));
    assert_eq!(d.seen(guild(), member(4, "Newcomer"), true, at(3)), None);
    // An outcome of another session of theirs changes nothing.
    assert_eq!(
        d.start_outcome(guild(), Id::new(4), session(4, 1), true, at(4)),
        None
    );
    assert_eq!(
        d.start_outcome(guild(), Id::new(4), session(4, 3), true, at(5)),
        Some(name(4, "Newcomer"))
    );

    // An opted-out member's start is refused: no name, now or when seen again.
    d.started(guild(), Id::new(5), session(5, 6));
    assert_eq!(d.seen(guild(), member(5, "Private"), true, at(6)), None);
    assert_eq!(
        d.start_outcome(guild(), Id::new(5), session(5, 6), false, at(7)),
        None
    );
    assert_eq!(d.seen(guild(), member(5, "Private!"), false, at(8)), None);

    // A session that ended before its outcome came: the name waits for a recorded session.
    d.started(guild(), Id::new(6), session(6, 9));
    assert_eq!(d.seen(guild(), member(6, "Brief"), true, at(9)), None);
    d.ended(guild(), Id::new(6), session(6, 9));
    assert_eq!(d.seen(guild(), member(6, "Brief"), false, at(10)), None);
    assert_eq!(
        d.seen(guild(), member(6, "Brief"), true, at(11)),
        Some(name(6, "Brief"))
    );
}

#[test]
fn a_name_removed_by_a_privacy_action_is_written_again() {
    let mut d = Directory::new();
    assert_eq!(
        d.seen(guild(), member(1, "Ace"), true, at(0)),
        Some(name(1, "Ace"))
    );
    // A deletion before the name was written leaves it alone.
    d.privacy_actions(guild(), &[(Id::new(1), at(-5))]);
    assert_eq!(d.seen(guild(), member(1, "Ace"), true, at(1)), None);
    d.privacy_actions(guild(), &[(Id::new(1), at(2))]);
    // Not while the member is not recorded (their call began before the deletion).
    assert_eq!(d.seen(guild(), member(1, "Ace"), false, at(3)), None);
    assert_eq!(
        d.seen(guild(), member(1, "Ace"), true, at(4)),
        Some(name(1, "Ace"))
    );
    // The same action seen again at the next refresh changes nothing.
    d.privacy_actions(guild(), &[(Id::new(1), at(2))]);
    assert_eq!(d.seen(guild(), member(1, "Ace"), true, at(5)), None);
}

#[test]
fn leaving_a_guild_forgets_it() {
    let mut d = Directory::new();
    let other: GuildId = Id::new(2 << 22);
    d.guild_create(guild(), Some(defaults()), [], [], |_| true, at(0));
    d.guild_create(other, Some(defaults()), [], [], |_| true, at(0));
    d.retain_guilds(|g| g == other);
    assert_eq!(d.channel_changed(guild(), voice(1, None)), None);
    assert!(d.channel_changed(other, voice(1, None)).is_some());
}
