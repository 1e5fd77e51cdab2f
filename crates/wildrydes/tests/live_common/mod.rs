//! Helpers of the alert and dashboard tests.

#![allow(dead_code)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::common::WILDRYDES;

/// `wildrydes up` on free ports; returns the process and the banner's
/// `name: value` lines.
pub async fn up(data_dir: &Path) -> (Child, Vec<(String, String)>) {
    let mut child = Command::new(WILDRYDES)
        .args([
            "up",
            "-port",
            "0",
            "-window",
            "5s",
            "-tiles",
            "none",
            "-data-dir",
        ])
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start wildrydes up");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut banner = Vec::new();
    while let Some(line) = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("banner within 30 s")
        .expect("read banner")
    {
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(": ") {
            banner.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, banner)
}

pub fn field<'a>(banner: &'a [(String, String)], name: &str) -> &'a str {
    let value = &banner
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("banner names {name}: {banner:?}"))
        .1;
    value.split_whitespace().next().expect("a value")
}
