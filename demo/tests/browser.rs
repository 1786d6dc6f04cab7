//! The page in a real headless Chromium: a burst of 15 shows 200s turning into 429s.
//! Leaves a screenshot at target/demo-page.png (shown in the README).
//!
//! `CHROMIUM` names the browser binary (default `chromium`, Debian's package, which
//! `make test` installs).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn chromium(profile: &Path, args: &[&str]) -> std::process::Output {
    let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let out = Command::new(&binary)
        .args(["--headless", "--disable-gpu", "--disable-dev-shm-usage"])
        // The tests may run as root, where Chromium's sandbox cannot start.
        .arg("--no-sandbox")
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--hide-scrollbars", "--virtual-time-budget=20000"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {binary}: {e}"));
    assert!(
        out.status.success(),
        "{binary} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// How many log entries of the page carry this HTTP status.
fn entries(dom: &str, status: u16) -> usize {
    dom.matches(&format!("data-status=\"{status}\"")).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_on_the_page_turns_200s_into_429s() {
    let redis = Redis::start();
    let app = App::start(config(|c| c), &redis.url()).await;
    let profile = tempfile::tempdir().unwrap();
    let url = app.url("/?burst=15");
    // Chromium blocks its thread; the app must keep serving meanwhile.
    let dom = tokio::task::spawn_blocking({
        let profile = profile.path().to_path_buf();
        move || chromium(&profile, &["--dump-dom", &url])
    })
    .await
    .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("data-burst-done=\"yes\""),
        "the burst finished: {dom}"
    );
    assert_eq!(entries(&dom, 200), 10, "{dom}");
    assert_eq!(entries(&dom, 429), 5, "{dom}");
    assert!(dom.contains("limited, retry after"), "{dom}");
    assert!(dom.contains("<span id=\"totals\">10 / 5</span>"), "{dom}");

    // A fresh client (another server and app) for the screenshot, so it shows the
    // quota running out rather than only 429s.
    let redis = Redis::start();
    let app = App::start(config(|c| c), &redis.url()).await;
    let shot: PathBuf = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/demo-page.png");
    let _ = std::fs::remove_file(&shot);
    let url = app.url("/?burst=15");
    let arg = format!("--screenshot={}", shot.display());
    tokio::task::spawn_blocking({
        let profile = profile.path().to_path_buf();
        move || chromium(&profile, &["--window-size=900,720", &arg, &url])
    })
    .await
    .unwrap();
    let png = std::fs::read(&shot).expect("a screenshot was written");
    assert!(png.starts_with(b"\x89PNG"), "a PNG image");
    assert_eq!(
        redis.calls("ratelimit.check"),
        11,
        "the page's burst reached Redis"
    );
}
