//! A raw websocket client without `compress`: plain JSON text frames both ways, and what the
//! fake does with a client that sends garbage.

use anyhow::{Context as _, bail, ensure};
use callstats_fake_gateway::{Activity, ChannelSpec, FakeGateway, GuildSpec, VoiceMember};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_websockets::{ClientBuilder, MaybeTlsStream, Message, WebSocketStream};
use twilight_model::id::Id;

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(10);

async fn connect(fake: &FakeGateway, query: &str) -> anyhow::Result<Client> {
    let uri = format!("{}/?{query}", fake.url());
    let (client, _) = ClientBuilder::new().uri(&uri)?.connect().await?;
    Ok(client)
}

/// Next text frame as JSON; fails on anything else.
async fn next_json(client: &mut Client) -> anyhow::Result<Value> {
    let message = tokio::time::timeout(WAIT, client.next())
        .await
        .context("timed out")?
        .context("connection ended")??;
    let Some(text) = message.as_text() else {
        bail!("expected a text frame, got {message:?}");
    };
    Ok(serde_json::from_str(text)?)
}

/// Reads until the close frame and returns its code.
async fn close_code(client: &mut Client) -> anyhow::Result<Option<u16>> {
    loop {
        let message = tokio::time::timeout(WAIT, client.next())
            .await
            .context("timed out")?
            .context("connection ended without a close frame")??;
        if let Some((code, _)) = message.as_close() {
            return Ok(Some(code.into()));
        }
    }
}

#[tokio::test]
async fn without_compress_frames_are_plain_json_text() -> anyhow::Result<()> {
    let fake = FakeGateway::builder()
        .heartbeat_interval(Duration::from_millis(1_500))
        .start()
        .await?;
    let (guild, lounge) = (Id::new(1 << 22), Id::new(11));
    fake.add_guild(
        GuildSpec::new(guild, "guild")
            .channel(ChannelSpec::voice(lounge, "lounge"))
            .voice_member(VoiceMember::new(Id::new(100), lounge)),
    )?;
    let mut client = connect(&fake, "v=10&encoding=json").await?;

    let hello = next_json(&mut client).await?;
    ensure!(
        hello["op"] == 10 && hello["d"]["heartbeat_interval"] == 1_500,
        "{hello}"
    );

    let identify = json!({"op": 2, "d": {
        "token": "Bot token", "intents": 129, "shard": [0, 1],
        "properties": {"os": "linux", "browser": "raw", "device": "raw"},
    }});
    client.send(Message::text(identify.to_string())).await?;
    let ready = next_json(&mut client).await?;
    ensure!(ready["t"] == "READY" && ready["s"] == 1, "{ready}");
    ensure!(ready["d"]["resume_gateway_url"] == fake.resume_url().as_str());
    let create = next_json(&mut client).await?;
    ensure!(create["t"] == "GUILD_CREATE" && create["s"] == 2);
    let voice_state = &create["d"]["voice_states"][0];
    ensure!(voice_state["user_id"] == "100" && voice_state["channel_id"] == "11");
    ensure!(
        voice_state.get("guild_id").is_none(),
        "Discord omits guild_id here"
    );

    client.send(Message::text(r#"{"op":1,"d":2}"#)).await?;
    let ack = next_json(&mut client).await?;
    ensure!(ack["op"] == 11, "{ack}");

    client.send(Message::text("{not json")).await?;
    ensure!(close_code(&mut client).await? == Some(4002));
    let rejected = fake
        .wait_for(|r| matches!(r.activity, Activity::Rejected { .. }), WAIT)
        .await?;
    ensure!(matches!(
        rejected.activity,
        Activity::Rejected { code: 4002, .. }
    ));
    let connected = fake
        .records()
        .into_iter()
        .find_map(|r| match r.activity {
            Activity::Connected { compressed, .. } => Some(compressed),
            _ => None,
        })
        .context("a connection record")?;
    ensure!(!connected);
    Ok(())
}

#[tokio::test]
async fn payloads_before_identify_and_unknown_opcodes_are_closed() -> anyhow::Result<()> {
    let fake = FakeGateway::start().await?;
    let mut client = connect(&fake, "v=10&encoding=json").await?;
    next_json(&mut client).await?;
    client
        .send(Message::text(r#"{"op":3,"d":{"status":"online"}}"#))
        .await?;
    ensure!(close_code(&mut client).await? == Some(4003));

    let mut client = connect(&fake, "v=10&encoding=json").await?;
    next_json(&mut client).await?;
    client.send(Message::text(r#"{"op":42,"d":null}"#)).await?;
    ensure!(close_code(&mut client).await? == Some(4001));

    let mut client = connect(&fake, "v=10&encoding=json").await?;
    next_json(&mut client).await?;
    client.send(Message::binary(vec![0x83_u8, 0x74])).await?;
    ensure!(close_code(&mut client).await? == Some(4002));

    let mut client = connect(&fake, "v=10&encoding=json&compress=zlib-stream").await?;
    ensure!(close_code(&mut client).await? == Some(4002));
    ensure!(fake.counters().rejected == 4);
    Ok(())
}

#[tokio::test]
async fn unreachable_gateway_resets_connections_until_accepting_again() -> anyhow::Result<()> {
    let fake = FakeGateway::start().await?;
    fake.set_accepting(false);
    ensure!(connect(&fake, "v=10").await.is_err());
    ensure!(fake.counters().refused == 1 && fake.counters().connections == 0);
    fake.set_accepting(true);
    let mut client = connect(&fake, "v=10").await?;
    ensure!(next_json(&mut client).await?["op"] == 10);
    Ok(())
}
