//! The local stack as a newcomer runs it: `scripts/run-local` brings up the local DynamoDB
//! server, the interactions endpoint, the gateway simulator and the sidecar; the local client
//! then shows stats and a leaderboard made from the simulated traffic; Ctrl-C stops every
//! process the script started.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn call(dir: &Path, line: &str, extra: &[&str]) -> (bool, String) {
    let out = Command::new(callstats_tests::program("callstats-dev"))
        .current_dir(repo())
        .arg("call")
        .arg(line)
        .arg("--env-file")
        .arg(dir.join("client.env"))
        .arg("--save-dir")
        .arg(dir.join("replies"))
        .args(extra)
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

/// The month of past calls the simulator replays first: a chart with days, a server view with
/// several channels, partners, and names on the board.
async fn check_the_replayed_month(dir: &Path) {
    let (ok, show) = call(dir, "/callstats show period:30d", &[]).await;
    assert!(
        ok && show.contains("attachment activity.png: saved to"),
        "{show}"
    );
    assert!(show.contains("Streak:"), "{show}");
    let (ok, server) = call(dir, "/callstats server period:30d", &[]).await;
    assert!(ok && server.contains("Top channels:"), "{server}");
    let channels = server.split("Top channels:\n").nth(1).map_or(0, |t| {
        t.lines().take_while(|l| l.starts_with("  #")).count()
    });
    assert!(channels >= 3, "{channels} channels:\n{server}");
    let (ok, partners) = call(dir, "/callstats partners period:30d", &[]).await;
    assert!(ok && partners.contains("`3.`"), "{partners}");
    let (ok, month) = call(dir, "/calltop period:month", &[]).await;
    let unnamed = month.matches("@member").count();
    assert!(
        ok && unnamed == 0,
        "{unnamed} members without a name:\n{month}"
    );
}

#[tokio::test]
async fn run_local_serves_stats_from_simulated_traffic_and_stops_cleanly() {
    let dir = std::env::temp_dir().join(format!("callstats-stack-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let mut script = Command::new(repo().join("scripts/run-local"))
        .current_dir(repo())
        .env("CALLSTATS_LOCAL_DIR", &dir)
        .env("CALLSTATS_LOCAL_PORT", port.to_string())
        .env(
            "CALLSTATS_HTTP_LISTEN",
            format!("127.0.0.1:{}", free_port()),
        )
        .env("CALLSTATS_SIM_SEED", "7")
        .env_remove("DISCORD_TOKEN")
        .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(script.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_mins(5), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("callstats runs locally") {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(ready, "scripts/run-local did not come up");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    // The simulator ends several calls in every guild within its first 40 seconds.
    let deadline = Instant::now() + Duration::from_mins(2);
    let top = loop {
        let (ok, text) = call(&dir, "/calltop period:all metric:total", &[]).await;
        if ok && text.contains("`#1`") {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "no leaderboard after two minutes of traffic:\n{text}"
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
    };
    assert!(top.contains("# Voice leaderboard · all time"), "{top}");
    assert!(top.contains("Your rank:"), "{top}");

    let (ok, show) = call(&dir, "/callstats show", &[]).await;
    assert!(ok, "{show}");
    assert!(show.contains("# Call stats"), "{show}");
    let total = show
        .split("Total time:\n")
        .nth(1)
        .and_then(|t| t.lines().next())
        .unwrap_or_default()
        .trim();
    assert!(
        !total.is_empty() && total != "0 s",
        "total time {total:?}:\n{show}"
    );
    assert!(show.contains("attachment heatmap.png: saved to"), "{show}");
    assert!(dir.join("replies/heatmap.png").exists());
    let (ok, history) = call(&dir, "/callstats history", &[]).await;
    assert!(ok && history.contains("# Recent calls"), "{history}");

    check_the_replayed_month(&dir).await;

    // Ctrl-C: SIGINT to the script, which stops everything it started.
    let pids: Vec<u32> = std::fs::read_to_string(dir.join("pids"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(pids.len(), 4, "dynamodb, interactions, simulator, sidecar");
    let status = Command::new("kill")
        .args(["-INT", &script.id().unwrap().to_string()])
        .status()
        .await
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_mins(1), script.wait())
        .await
        .unwrap()
        .unwrap();
    // 130: the script stopped on the interrupt, not on a failure of its own.
    assert_eq!(exit.code(), Some(130), "{exit:?}");
    for pid in pids {
        assert!(!alive(pid), "process {pid} outlived the script");
    }
    let sidecar_log = std::fs::read_to_string(dir.join("sidecar.log")).unwrap();
    assert!(
        sidecar_log.contains("stopped"),
        "the sidecar did not stop gracefully:\n{sidecar_log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
