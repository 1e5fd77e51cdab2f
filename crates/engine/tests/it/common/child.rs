//! A durable engine served by a child process (this test binary run again
//! with one test selected), for the tests that kill it with SIGKILL.

use std::path::Path;
use std::time::Duration;

const CHILD_DIR: &str = "WILDRYDES_CHILD_DIR";

/// The body of the test a child runs: serves a durable engine on the data
/// dir it was given and prints its URL; returns at once in a normal run.
pub async fn serve_if_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let e = engine::spawn(engine::Config {
        data_dir: Some(dir.into()),
        ..engine::Config::default()
    })
    .await
    .unwrap();
    println!("URL {}", e.url());
    std::future::pending::<()>().await;
}

/// Starts a child running `test` (its path in the harness, without the
/// crate) on `dir`; returns it and the engine's URL.
pub async fn start(dir: &Path, test: &str) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the child server starts")
            .unwrap()
            .expect("a URL line");
        // The harness prints the test's name on the same line first.
        if let Some((_, url)) = line.split_once("URL ") {
            return (child, url.trim().to_string());
        }
    }
}
