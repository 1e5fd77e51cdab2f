//! The `wildrydes-bench` command line: documented subcommands, clear errors.
//! (The benchmarks themselves are run by hand, never as timed tests.)

use std::process::Command;

fn bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wildrydes-bench"))
}

#[test]
fn help_lists_every_benchmark() {
    let out = bench().arg("--help").output().expect("run wildrydes-bench");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for sub in ["engine", "producer", "consumer", "aggregate", "all"] {
        assert!(help.contains(sub), "`{sub}` missing from --help:\n{help}");
    }
}

#[test]
fn an_unknown_flag_is_a_usage_error() {
    let out = bench()
        .args(["engine", "--recrods", "10"])
        .output()
        .expect("run wildrydes-bench");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--recrods"), "{err}");
}
