//! Gateway payloads as Discord puts them on the wire.
//!
//! Pure functions from the fake's model to JSON text, no I/O. The shapes follow what Discord
//! sends, not how twilight serialises its own models: ids are strings, absent things are `null`,
//! voice states inside `GUILD_CREATE` carry neither `guild_id` nor `member`, `user.bot` is only
//! present for bots. Every field twilight-model 0.18 requires is present.

use crate::spec::{ChannelKind, ChannelSpec, Overwrite, OverwriteTarget, VoiceFlags};
use serde::Serialize;
use twilight_model::id::{
    Id,
    marker::{ApplicationMarker, ChannelMarker, GuildMarker, RoleMarker, UserMarker},
};

/// `joined_at` of every member and of the bot in every guild.
const JOINED_AT: &str = "2024-01-01T00:00:00.000000+00:00";

/// Op 10 HELLO.
pub(crate) fn hello(heartbeat_interval_ms: u64) -> String {
    format!(
        r#"{{"t":null,"s":null,"op":10,"d":{{"heartbeat_interval":{heartbeat_interval_ms},"_trace":["[\"callstats-fake-gateway\",{{\"micros\":0}}]"]}}}}"#
    )
}

/// Op 11 `HEARTBEAT_ACK`.
pub(crate) fn heartbeat_ack() -> String {
    r#"{"t":null,"s":null,"op":11,"d":null}"#.to_owned()
}

/// Op 1 HEARTBEAT sent by the gateway: asks the client to heartbeat now.
pub(crate) fn heartbeat_request() -> String {
    r#"{"t":null,"s":null,"op":1,"d":null}"#.to_owned()
}

/// Op 7 RECONNECT.
pub(crate) fn reconnect() -> String {
    r#"{"t":null,"s":null,"op":7,"d":null}"#.to_owned()
}

/// Op 9 `INVALID_SESSION`; `d` tells whether the session may be resumed.
pub(crate) fn invalid_session(resumable: bool) -> String {
    format!(r#"{{"t":null,"s":null,"op":9,"d":{resumable}}}"#)
}

/// Whether `name` can be a dispatch event name (`READY`, `VOICE_STATE_UPDATE`, ...); such names
/// need no JSON escaping.
pub(crate) fn is_event_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Op 0 DISPATCH of `event` with sequence `seq` around already serialised `data`.
///
/// `event` must pass [`is_event_name`].
pub(crate) fn dispatch(seq: u64, event: &str, data: &str) -> String {
    format!(r#"{{"t":"{event}","s":{seq},"op":0,"d":{data}}}"#)
}

/// Serialises a wire struct. The structs here hold only strings, numbers and ids, which
/// `serde_json` always serialises; the fallback keeps that a non-panicking `null`.
fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// The bot account the fake identifies clients as.
#[derive(Clone, Debug)]
pub(crate) struct BotIdentity {
    pub(crate) user_id: Id<UserMarker>,
    pub(crate) name: String,
    pub(crate) application_id: Id<ApplicationMarker>,
}

#[derive(Serialize)]
struct CurrentUser<'a> {
    id: Id<UserMarker>,
    username: &'a str,
    discriminator: &'static str,
    global_name: Option<&'a str>,
    avatar: Option<&'a str>,
    banner: Option<&'a str>,
    accent_color: Option<u32>,
    bot: bool,
    verified: bool,
    mfa_enabled: bool,
    email: Option<&'a str>,
    flags: u64,
    public_flags: u64,
}

#[derive(Serialize)]
struct UnavailableGuild {
    id: Id<GuildMarker>,
    unavailable: bool,
}

#[derive(Serialize)]
struct Application {
    id: Id<ApplicationMarker>,
    flags: u64,
}

#[derive(Serialize)]
struct Ready<'a> {
    v: u8,
    user: CurrentUser<'a>,
    guilds: Vec<UnavailableGuild>,
    session_id: &'a str,
    session_type: &'static str,
    resume_gateway_url: &'a str,
    shard: [u32; 2],
    application: Application,
    private_channels: [(); 0],
    relationships: [(); 0],
    presences: [(); 0],
    user_settings: Empty,
}

#[derive(Serialize)]
struct Empty {}

/// `d` of READY: the bot user and every guild of the shard as unavailable.
pub(crate) fn ready(
    bot: &BotIdentity,
    guilds: impl Iterator<Item = Id<GuildMarker>>,
    session_id: &str,
    resume_gateway_url: &str,
    shard: [u32; 2],
) -> String {
    to_json(&Ready {
        v: 10,
        user: CurrentUser {
            id: bot.user_id,
            username: &bot.name,
            discriminator: "0000",
            global_name: None,
            avatar: None,
            banner: None,
            accent_color: None,
            bot: true,
            verified: true,
            mfa_enabled: false,
            email: None,
            flags: 0,
            public_flags: 0,
        },
        guilds: guilds
            .map(|id| UnavailableGuild {
                id,
                unavailable: true,
            })
            .collect(),
        session_id,
        session_type: "normal",
        resume_gateway_url,
        shard,
        application: Application {
            id: bot.application_id,
            flags: 0,
        },
        private_channels: [],
        relationships: [],
        presences: [],
        user_settings: Empty {},
    })
}

/// `d` of RESUMED.
pub(crate) fn resumed() -> String {
    r#"{"_trace":["[\"callstats-fake-gateway\",{\"micros\":0}]"]}"#.to_owned()
}

/// `d` of `GUILD_DELETE`: an outage when `unavailable`, otherwise the bot left or was removed.
pub(crate) fn guild_delete(id: Id<GuildMarker>, unavailable: bool) -> String {
    if unavailable {
        to_json(&UnavailableGuild {
            id,
            unavailable: true,
        })
    } else {
        format!(r#"{{"id":"{id}"}}"#)
    }
}

/// `d` of a `GUILD_CREATE` for a guild in an outage.
pub(crate) fn unavailable_guild(id: Id<GuildMarker>) -> String {
    to_json(&UnavailableGuild {
        id,
        unavailable: true,
    })
}

/// A user as referenced from members, with their nickname in the guild at hand.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UserView<'a> {
    pub(crate) id: Id<UserMarker>,
    pub(crate) name: &'a str,
    pub(crate) global_name: Option<&'a str>,
    pub(crate) nick: Option<&'a str>,
    pub(crate) bot: bool,
}

/// A voice state of the model, borrowed for serialisation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct VoiceView<'a> {
    pub(crate) user: UserView<'a>,
    pub(crate) channel: Option<Id<ChannelMarker>>,
    pub(crate) flags: VoiceFlags,
    pub(crate) session_id: &'a str,
}

/// A guild of the model, borrowed for serialisation.
#[derive(Debug)]
pub(crate) struct GuildView<'a> {
    pub(crate) id: Id<GuildMarker>,
    pub(crate) name: &'a str,
    pub(crate) owner: Id<UserMarker>,
    pub(crate) afk_channel: Option<Id<ChannelMarker>>,
    pub(crate) afk_timeout: u16,
    pub(crate) channels: &'a [ChannelSpec],
    pub(crate) everyone_permissions: u64,
    pub(crate) member_count: u64,
    pub(crate) voice: Vec<VoiceView<'a>>,
}

#[derive(Serialize)]
struct User<'a> {
    id: Id<UserMarker>,
    username: &'a str,
    discriminator: &'static str,
    global_name: Option<&'a str>,
    avatar: Option<&'a str>,
    avatar_decoration_data: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    bot: bool,
    public_flags: u64,
}

#[derive(Serialize)]
struct Member<'a> {
    user: User<'a>,
    nick: Option<&'a str>,
    avatar: Option<&'a str>,
    banner: Option<&'a str>,
    roles: [Id<RoleMarker>; 0],
    joined_at: &'static str,
    premium_since: Option<&'a str>,
    deaf: bool,
    mute: bool,
    flags: u64,
    pending: bool,
    communication_disabled_until: Option<&'a str>,
}

impl<'a> Member<'a> {
    fn new(user: UserView<'a>, flags: VoiceFlags) -> Self {
        Self {
            user: User {
                id: user.id,
                username: user.name,
                discriminator: "0",
                global_name: user.global_name,
                avatar: None,
                avatar_decoration_data: None,
                bot: user.bot,
                public_flags: 0,
            },
            nick: user.nick,
            avatar: None,
            banner: None,
            roles: [],
            joined_at: JOINED_AT,
            premium_since: None,
            deaf: flags.deaf,
            mute: flags.mute,
            flags: 0,
            pending: false,
            communication_disabled_until: None,
        }
    }
}

#[derive(Serialize)]
#[allow(clippy::struct_excessive_bools)] // the wire format has one bool per flag
struct VoiceState<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    guild_id: Option<Id<GuildMarker>>,
    channel_id: Option<Id<ChannelMarker>>,
    user_id: Id<UserMarker>,
    #[serde(skip_serializing_if = "Option::is_none")]
    member: Option<Member<'a>>,
    session_id: &'a str,
    deaf: bool,
    mute: bool,
    self_deaf: bool,
    self_mute: bool,
    self_stream: bool,
    self_video: bool,
    suppress: bool,
    request_to_speak_timestamp: Option<&'a str>,
}

impl<'a> VoiceState<'a> {
    fn new(
        view: &VoiceView<'a>,
        guild_id: Option<Id<GuildMarker>>,
        member: Option<Member<'a>>,
    ) -> Self {
        let flags = view.flags;
        Self {
            guild_id,
            channel_id: view.channel,
            user_id: view.user.id,
            member,
            session_id: view.session_id,
            deaf: flags.deaf,
            mute: flags.mute,
            self_deaf: flags.self_deaf,
            self_mute: flags.self_mute,
            self_stream: flags.self_stream,
            self_video: flags.self_video,
            suppress: flags.suppress,
            request_to_speak_timestamp: None,
        }
    }
}

/// `d` of `VOICE_STATE_UPDATE`: a full voice state with `guild_id` and `member`.
pub(crate) fn voice_state_update(guild: Id<GuildMarker>, view: &VoiceView<'_>) -> String {
    let member = Member::new(view.user, view.flags);
    to_json(&VoiceState::new(view, Some(guild), Some(member)))
}

/// A field that is present with the value `null`.
#[derive(Clone, Copy, Serialize)]
struct Null;

/// A permission overwrite on the wire: role (0) or member (1), bits as strings.
#[derive(Serialize)]
struct WireOverwrite {
    id: String,
    #[serde(rename = "type")]
    kind: u8,
    allow: String,
    deny: String,
}

impl WireOverwrite {
    fn new(overwrite: &Overwrite, guild: Id<GuildMarker>) -> Self {
        let (id, kind) = match overwrite.target {
            OverwriteTarget::Everyone => (guild.get(), 0),
            OverwriteTarget::Role(role) => (role.get(), 0),
            OverwriteTarget::Member(user) => (user.get(), 1),
        };
        Self {
            id: id.to_string(),
            kind,
            allow: overwrite.allow.to_string(),
            deny: overwrite.deny.to_string(),
        }
    }
}

#[derive(Serialize)]
struct Channel<'a> {
    id: Id<ChannelMarker>,
    /// Present in channel events, absent inside `GUILD_CREATE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    guild_id: Option<Id<GuildMarker>>,
    #[serde(rename = "type")]
    kind: u8,
    name: &'a str,
    position: usize,
    parent_id: Option<Id<ChannelMarker>>,
    permission_overwrites: Vec<WireOverwrite>,
    flags: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nsfw: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    topic: Option<Null>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_message_id: Option<Null>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_limit_per_user: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bitrate: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rtc_region: Option<Null>,
}

impl<'a> Channel<'a> {
    fn new(spec: &'a ChannelSpec, position: usize, guild: Id<GuildMarker>, in_event: bool) -> Self {
        let voice = spec.kind.is_voice();
        let text = spec.kind == ChannelKind::Text;
        Self {
            id: spec.id,
            guild_id: in_event.then_some(guild),
            kind: spec.kind.wire_type(),
            name: &spec.name,
            position,
            parent_id: None,
            permission_overwrites: spec
                .overwrites
                .iter()
                .map(|o| WireOverwrite::new(o, guild))
                .collect(),
            flags: 0,
            nsfw: text.then_some(false),
            topic: text.then_some(Null),
            last_message_id: text.then_some(Null),
            rate_limit_per_user: text.then_some(0),
            bitrate: voice.then_some(64_000),
            user_limit: voice.then_some(0),
            rtc_region: voice.then_some(Null),
        }
    }
}

#[derive(Serialize)]
#[allow(clippy::struct_field_names)] // Discord's field names
struct RoleColors {
    primary_color: u32,
    secondary_color: Option<u32>,
    tertiary_color: Option<u32>,
}

#[derive(Serialize)]
#[allow(clippy::struct_excessive_bools)] // the wire format has one bool per flag
struct Role {
    id: Id<RoleMarker>,
    name: &'static str,
    color: u32,
    colors: RoleColors,
    hoist: bool,
    icon: Option<&'static str>,
    unicode_emoji: Option<&'static str>,
    position: u32,
    permissions: String,
    managed: bool,
    mentionable: bool,
    flags: u64,
}

impl Role {
    /// The `@everyone` role of `guild` (its id is the guild's).
    fn everyone(guild: Id<GuildMarker>, permissions: u64) -> Self {
        Self {
            id: guild.cast(),
            name: "@everyone",
            color: 0,
            colors: RoleColors {
                primary_color: 0,
                secondary_color: None,
                tertiary_color: None,
            },
            hoist: false,
            icon: None,
            unicode_emoji: None,
            position: 0,
            permissions: permissions.to_string(),
            managed: false,
            mentionable: false,
            flags: 0,
        }
    }
}

#[derive(Serialize)]
#[allow(clippy::struct_excessive_bools, clippy::struct_field_names)] // Discord's fields
struct Guild<'a> {
    id: Id<GuildMarker>,
    name: &'a str,
    icon: Option<&'a str>,
    splash: Option<&'a str>,
    discovery_splash: Option<&'a str>,
    banner: Option<&'a str>,
    description: Option<&'a str>,
    owner_id: Id<UserMarker>,
    afk_channel_id: Option<Id<ChannelMarker>>,
    afk_timeout: u16,
    widget_enabled: bool,
    widget_channel_id: Option<Id<ChannelMarker>>,
    verification_level: u8,
    default_message_notifications: u8,
    explicit_content_filter: u8,
    roles: [Role; 1],
    emojis: [(); 0],
    stickers: [(); 0],
    features: [&'static str; 0],
    mfa_level: u8,
    application_id: Option<Id<ApplicationMarker>>,
    system_channel_id: Option<Id<ChannelMarker>>,
    system_channel_flags: u64,
    rules_channel_id: Option<Id<ChannelMarker>>,
    public_updates_channel_id: Option<Id<ChannelMarker>>,
    safety_alerts_channel_id: Option<Id<ChannelMarker>>,
    vanity_url_code: Option<&'a str>,
    premium_tier: u8,
    premium_subscription_count: u64,
    preferred_locale: &'static str,
    nsfw: bool,
    nsfw_level: u8,
    premium_progress_bar_enabled: bool,
    max_members: u64,
    max_video_channel_users: u64,
    max_stage_video_channel_users: u64,
    joined_at: &'static str,
    large: bool,
    lazy: bool,
    unavailable: bool,
    member_count: u64,
    voice_states: Vec<VoiceState<'a>>,
    members: Vec<Member<'a>>,
    channels: Vec<Channel<'a>>,
    threads: [(); 0],
    presences: [(); 0],
    stage_instances: [(); 0],
    guild_scheduled_events: [(); 0],
    soundboard_sounds: [(); 0],
}

/// `d` of `GUILD_CREATE` for an available guild: channels, voice states and the members in voice
/// (plus the bot itself, as Discord always includes the current member).
pub(crate) fn guild_create(
    guild: &GuildView<'_>,
    bot: UserView<'_>,
    large_threshold: u64,
) -> String {
    let in_voice = guild.voice.iter().filter(|v| v.channel.is_some());
    let voice_states = in_voice
        .clone()
        .map(|view| VoiceState::new(view, None, None))
        .collect();
    let members = std::iter::once(Member::new(bot, VoiceFlags::default()))
        .chain(in_voice.map(|view| Member::new(view.user, view.flags)))
        .collect();
    let system_channel_id = guild
        .channels
        .iter()
        .find(|c| c.kind == ChannelKind::Text)
        .map(|c| c.id);
    to_json(&Guild {
        id: guild.id,
        name: guild.name,
        icon: None,
        splash: None,
        discovery_splash: None,
        banner: None,
        description: None,
        owner_id: guild.owner,
        afk_channel_id: guild.afk_channel,
        afk_timeout: guild.afk_timeout,
        widget_enabled: false,
        widget_channel_id: None,
        verification_level: 0,
        default_message_notifications: 0,
        explicit_content_filter: 0,
        roles: [Role::everyone(guild.id, guild.everyone_permissions)],
        emojis: [],
        stickers: [],
        features: [],
        mfa_level: 0,
        application_id: None,
        system_channel_id,
        system_channel_flags: 0,
        rules_channel_id: None,
        public_updates_channel_id: None,
        safety_alerts_channel_id: None,
        vanity_url_code: None,
        premium_tier: 0,
        premium_subscription_count: 0,
        preferred_locale: "en-US",
        nsfw: false,
        nsfw_level: 0,
        premium_progress_bar_enabled: false,
        max_members: 500_000,
        max_video_channel_users: 25,
        max_stage_video_channel_users: 50,
        joined_at: JOINED_AT,
        large: guild.member_count > large_threshold,
        lazy: true,
        unavailable: false,
        member_count: guild.member_count,
        voice_states,
        members,
        channels: guild
            .channels
            .iter()
            .enumerate()
            .map(|(position, spec)| Channel::new(spec, position, guild.id, false))
            .collect(),
        threads: [],
        presences: [],
        stage_instances: [],
        guild_scheduled_events: [],
        soundboard_sounds: [],
    })
}

/// `d` of `CHANNEL_CREATE`, `CHANNEL_UPDATE` and `CHANNEL_DELETE`: the channel with its guild.
pub(crate) fn channel_event(guild: Id<GuildMarker>, spec: &ChannelSpec, position: usize) -> String {
    to_json(&Channel::new(spec, position, guild, true))
}

#[derive(Serialize)]
struct RoleUpdate {
    guild_id: Id<GuildMarker>,
    role: Role,
}

/// `d` of `GUILD_ROLE_UPDATE` for the `@everyone` role.
pub(crate) fn everyone_role_update(guild: Id<GuildMarker>, permissions: u64) -> String {
    to_json(&RoleUpdate {
        guild_id: guild,
        role: Role::everyone(guild, permissions),
    })
}
