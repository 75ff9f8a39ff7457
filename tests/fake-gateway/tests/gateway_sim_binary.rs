//! The `callstats-gateway-sim` program as the local stack runs it: port file, a real twilight
//! shard connecting to the URL in it, traffic, and a clean exit on SIGTERM.

#![cfg(unix)]

mod support;

use anyhow::{Context as _, ensure};
use callstats_fake_gateway::ShardId;
use std::{
    path::PathBuf,
    process::Stdio,
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use support::{WAIT, spawn_shard_at};
use tokio::process::Command;
use twilight_gateway::Event;
use twilight_model::gateway::payload::incoming::GuildCreate;

fn scratch_dir() -> anyhow::Result<PathBuf> {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "callstats-gateway-sim-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[tokio::test]
async fn serves_the_url_in_the_port_file_and_stops_cleanly_on_sigterm() -> anyhow::Result<()> {
    let dir = scratch_dir()?;
    let port_file = dir.join("gateway.url");
    let clock_file = dir.join("clock");
    let child = Command::new(env!("CARGO_BIN_EXE_callstats-gateway-sim"))
        .args([
            "--seed",
            "5",
            "--speed",
            "100",
            "--guilds",
            "2",
            "--members",
            "10",
        ])
        .args(["--token", "local-token", "--verbose", "--port-file"])
        .arg(&port_file)
        .arg("--clock-file")
        .arg(&clock_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;

    let url = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .context("the port file")?;
    ensure!(url.ends_with('\n'), "{url:?}");
    let url = url.trim_end();
    ensure!(url.starts_with("ws://127.0.0.1:"), "{url}");
    let read_clock = || -> anyhow::Result<i64> {
        let text = std::fs::read_to_string(&clock_file).context("the clock file")?;
        Ok(text.trim().parse()?)
    };
    let started = read_clock()?;
    let real_now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
    ensure!(
        started > 1_700_000_000 && started <= real_now + 3_600,
        "{started}"
    );

    let mut shard = spawn_shard_at(url, "local-token", ShardId::ONE);
    for _ in 0..2 {
        let voice = shard
            .expect("GUILD_CREATE", |e| match e {
                Event::GuildCreate(create) => match create.as_ref() {
                    GuildCreate::Available(guild) => Some(guild.voice_states.len()),
                    GuildCreate::Unavailable(_) => None,
                },
                _ => None,
            })
            .await?;
        ensure!(voice >= 5, "{voice} in voice at the start");
    }
    let mut left = 0;
    while left < 4 {
        let update = shard
            .expect("VOICE_STATE_UPDATE", |e| match e {
                Event::VoiceStateUpdate(update) => Some(update.clone()),
                _ => None,
            })
            .await?;
        left += usize::from(update.channel_id.is_none());
    }

    // Four calls ended, the last at least 14 simulated seconds after the first client
    // identified; the clock file ran at least that far.
    let later = read_clock()?;
    ensure!(later >= started + 14, "clock {started} then {later}");

    let pid = child.id().context("the simulator's pid")?;
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await?;
    ensure!(status.success());
    let output = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .context("the simulator exiting")??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(output.status.success(), "{:?}\n{stdout}", output.status);
    ensure!(!port_file.exists(), "the port file is removed on exit");
    ensure!(read_clock()? >= later, "the clock file stays");
    ensure!(stdout.contains(&format!("on {url}")), "{stdout}");
    ensure!(stdout.contains("seed 5 "), "{stdout}");
    ensure!(stdout.contains("Study Hall") && stdout.contains("Night Owls"));
    ensure!(stdout.contains(" left "), "event lines: {stdout}");
    ensure!(stdout.trim_end().ends_with("stopped"), "{stdout}");
    // The shard was told the gateway is going away.
    let code = shard
        .expect("the close frame", |e| match e {
            Event::GatewayClose(frame) => Some(frame.as_ref().map(|f| f.code)),
            _ => None,
        })
        .await?;
    ensure!(code == Some(1001), "{code:?}");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
