//! `testkit`: what the tests of every crate (and the benchmarks) share, so
//! none of them hand-writes a client builder or a process helper again.
//!
//! - [`Engine`]: an embedded engine on `127.0.0.1:0`, stopped when dropped;
//! - [`kinesis`], [`dynamodb`], [`s3`]: AWS SDK clients for a URL (dummy
//!   credentials, SDK retries off so tests see every error);
//! - [`assert_service_error!`] and [`assert_error_code!`]: a call fails with
//!   one service error;
//! - [`workspace_bin`] and [`ctrl_c`]: the workspace's binaries as processes.
//!
//! Dev-only (`publish = false`): never a dependency of shipped code.

use std::path::{Path, PathBuf};

pub use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Region of every test client.
pub const REGION: &str = "us-east-1";

/// A Kinesis client for the engine at `url`.
pub fn kinesis(url: &str) -> aws_sdk_kinesis::Client {
    kinesis_signed_by(url, "AKIDTEST", "secret")
}

/// A Kinesis client signing with this access key and secret.
pub fn kinesis_signed_by(url: &str, key: &str, secret: &str) -> aws_sdk_kinesis::Client {
    use aws_sdk_kinesis::config::{retry::RetryConfig, BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(kinesis::https::client())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(key, secret, None, None, "test"))
        .endpoint_url(url)
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_kinesis::Client::from_conf(conf)
}

/// A DynamoDB client for the engine at `url`.
pub fn dynamodb(url: &str) -> aws_sdk_dynamodb::Client {
    dynamodb_signed_by(url, "AKIDTEST", "secret")
}

/// A DynamoDB client signing with this access key and secret.
pub fn dynamodb_signed_by(url: &str, key: &str, secret: &str) -> aws_sdk_dynamodb::Client {
    use aws_sdk_dynamodb::config::{retry::RetryConfig, BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(kinesis::https::client())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(key, secret, None, None, "test"))
        .endpoint_url(url)
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

/// The items of a DynamoDB table (a paginated `Select: COUNT` scan).
pub async fn count_items(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<i64, aws_sdk_dynamodb::Error> {
    use aws_sdk_dynamodb::types::Select;
    let (mut total, mut start) = (0, None);
    loop {
        let out = client
            .scan()
            .table_name(table)
            .select(Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await?;
        total += i64::from(out.count());
        start = out.last_evaluated_key().cloned();
        if start.is_none() {
            return Ok(total);
        }
    }
}

/// An S3 client (path-style) for the engine at `url`.
pub fn s3(url: &str) -> aws_sdk_s3::Client {
    s3_signed_by(url, "AKIDTEST", "secret")
}

/// An S3 client signing with this access key and secret.
pub fn s3_signed_by(url: &str, key: &str, secret: &str) -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::{retry::RetryConfig, BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(kinesis::https::client())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(key, secret, None, None, "test"))
        .endpoint_url(url)
        .force_path_style(true)
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// An embedded engine on `127.0.0.1:0`; it stops when dropped.
pub struct Engine {
    pub url: String,
    pub handle: engine::EngineHandle,
}

impl Engine {
    /// An in-memory engine with the default configuration.
    pub async fn start() -> Self {
        Self::with_config(engine::Config::default()).await
    }

    pub async fn with_config(config: engine::Config) -> Self {
        let handle = engine::spawn(config).await.expect("the engine starts");
        Engine {
            url: handle.url(),
            handle,
        }
    }

    pub fn kinesis(&self) -> aws_sdk_kinesis::Client {
        kinesis(&self.url)
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        dynamodb(&self.url)
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        s3(&self.url)
    }
}

/// Asserts that an SDK call (a future) fails with the service error matching
/// `pattern`, e.g. `PutRecordError::ResourceNotFoundException(_)`; returns
/// the error.
#[macro_export]
macro_rules! assert_service_error {
    ($call:expr, $pattern:pat $(,)?) => {{
        let service = $call
            .await
            .expect_err(concat!("expected ", stringify!($pattern)))
            .into_service_error();
        assert!(
            matches!(service, $pattern),
            "expected {}, got {:?}",
            stringify!($pattern),
            service
        );
        service
    }};
}

/// Asserts that an SDK call (a future) fails with the error code `code`
/// (e.g. `"ValidationException"`); returns the error.
#[macro_export]
macro_rules! assert_error_code {
    ($call:expr, $code:expr $(,)?) => {{
        let service = $call
            .await
            .expect_err(concat!("expected ", stringify!($code)))
            .into_service_error();
        assert_eq!(
            $crate::ProvideErrorMetadata::code(&service),
            Some($code),
            "{service:?}"
        );
        service
    }};
}

/// A binary of the workspace (`wildrydes`, `producer`, `consumer`,
/// `wildrydes-query`, `wildrydes-bench`), found next to the test's own binaries, where
/// `cargo test --workspace` builds them. `any_bin` is the path of a binary of
/// the package under test (`env!("CARGO_BIN_EXE_wildrydes")`); without one,
/// the test executable's directory is used.
///
/// Cargo builds only the package's own binaries for `cargo test -p X`, so a
/// binary that is missing, or older than a source file of its own crate, is built
/// first (`cargo build --bin NAME`, same profile and target dir; once per test
/// process): `cargo test -p wildrydes` works on a clean target dir. A binary
/// is not rebuilt for a change in another crate it depends on; `cargo test
/// --workspace` always tests fresh binaries.
pub fn workspace_bin(name: &str, any_bin: Option<&str>) -> PathBuf {
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    let path = match any_bin {
        Some(bin) => Path::new(bin).with_file_name(file),
        None => {
            let exe = std::env::current_exe().expect("the test executable");
            // target/<profile>/deps/<test> → target/<profile>/<name>
            let deps = exe.parent().expect("deps dir");
            deps.parent().unwrap_or(deps).join(file)
        }
    };
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|b| b == name) {
        if is_stale(name, &path) {
            build_bin(name, &path);
        }
        built.push(name.to_owned());
    }
    path
}

/// The workspace's root directory.
fn workspace_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Whether `bin` is missing or older than a source file of its crate
/// (`crates/<name>/src`; `wildrydes-bench` is `crates/bench`).
fn is_stale(name: &str, bin: &Path) -> bool {
    let Ok(built) = bin.metadata().and_then(|m| m.modified()) else {
        return true;
    };
    let krate = if name == "wildrydes-bench" {
        "bench"
    } else {
        name
    };
    let mut dirs = vec![workspace_root().join("crates").join(krate).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => dirs.push(entry.path()),
                Ok(m) if m.modified().is_ok_and(|changed| changed > built) => return true,
                _ => {}
            }
        }
    }
    false
}

/// `cargo build --bin NAME` into the profile and target dir `bin` lives in
/// (`<target>/<profile>/NAME` or `<target>/<triple>/<profile>/NAME`).
fn build_bin(name: &str, bin: &Path) {
    let profile_dir = bin.parent().expect("profile dir");
    let mut target = profile_dir.parent().expect("target dir");
    let mut cargo = std::process::Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()));
    cargo
        .current_dir(workspace_root())
        .args(["build", "--bin", name]);
    // `<target>/<triple>/<profile>`: a triple names an architecture, a
    // vendor and a system (`aarch64-unknown-linux-gnu`); a target dir's own
    // name need not (`target`, and CACHEDIR.TAG is not in every one).
    let triple = target
        .file_name()
        .and_then(|t| t.to_str())
        .filter(|t| t.matches('-').count() >= 2 && !target.join("CACHEDIR.TAG").exists());
    if let (Some(triple), Some(parent)) = (triple, target.parent()) {
        cargo.arg("--target").arg(triple);
        target = parent;
    }
    match profile_dir.file_name().and_then(|p| p.to_str()) {
        Some("debug") => {}
        Some(profile) => {
            cargo.args(["--profile", profile]);
        }
        None => {}
    }
    cargo.arg("--target-dir").arg(target);
    let status = cargo.status().expect("run cargo build");
    assert!(
        status.success() && bin.exists(),
        "building {} failed: run `cargo build --workspace` first",
        bin.display()
    );
}

/// Sends SIGINT to a child, as Ctrl-C in a terminal does.
#[cfg(unix)]
pub fn ctrl_c(child: &tokio::process::Child) {
    let pid = child.id().expect("still running").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -INT {pid}");
}
