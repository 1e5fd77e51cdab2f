//! The journal's explicit repair on tampered files: what the start refuses
//! is repaired by dropping only the damaged region (named, its bytes
//! saved), and every other acknowledged write comes back.

use std::path::Path;

use super::repair::repair;
use super::tests::{crashed_copy, damage_group_of, journal, key, keys, tamper};
use super::Store;

/// Checks that the start refuses the files in `dir`, then repairs them,
/// saving the damaged bytes in `dir/saved`.
fn refused_then_repaired(dir: &Path) -> (super::repair::Dropped, std::path::PathBuf) {
    assert!(Store::open(Some(dir)).is_err(), "the start refuses it");
    let saved = dir.join("saved");
    let dropped = repair(&dir.join("dynamodb"), || {
        std::fs::create_dir_all(&saved).map(|()| saved.clone())
    })
    .unwrap();
    (dropped, saved)
}

#[test]
fn a_damaged_group_is_dropped_named_and_saved_and_the_others_come_back() {
    let dir = tempfile::tempdir().unwrap();
    // Groups of 10 keys: 0..10, 10..20, 20..30; the second one damaged.
    let (_running, copy) = crashed_copy(dir.path(), 3);
    let path = damage_group_of(copy.path(), 13);
    let (dropped, saved) = refused_then_repaired(copy.path());
    assert_eq!(dropped.lines.len(), 1, "{:?}", dropped.lines);
    let line = &dropped.lines[0];
    assert!(line.contains(&path.display().to_string()), "{line}");
    assert!(line.contains("are lost"), "{line}");
    assert!(dropped.lost_bytes > 0);
    let region = std::fs::read_dir(&saved).unwrap().count();
    assert_eq!(region, 1, "the damaged bytes are saved");
    let store = Store::open(Some(copy.path())).unwrap();
    let expected: Vec<Vec<u8>> = (0..10).chain(20..30).map(key).collect();
    assert_eq!(keys(&store), expected);
}

#[test]
fn a_journal_file_whose_header_is_damaged_is_set_aside_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (_running, copy) = crashed_copy(dir.path(), 2);
    let path = journal(copy.path());
    let bytes = tamper(&path, |bytes| bytes[9] ^= 0xff);
    let (dropped, saved) = refused_then_repaired(copy.path());
    assert!(
        dropped.lines[0].contains("header is damaged"),
        "{:?}",
        dropped.lines
    );
    assert_eq!(dropped.lost_bytes, bytes.len() as u64);
    assert!(!path.exists());
    let set_aside = saved.join(path.file_name().unwrap());
    assert_eq!(std::fs::read(set_aside).unwrap(), bytes);
    assert!(Store::open(Some(copy.path())).is_ok());
}

#[test]
fn an_intact_journal_or_a_torn_last_write_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (_running, copy) = crashed_copy(dir.path(), 3);
    let path = journal(copy.path());
    // A torn last write: the start cuts it (never acknowledged).
    let bytes = tamper(&path, |bytes| {
        let end = bytes.iter().rposition(|&b| b != 0).unwrap();
        bytes[end] ^= 0xff;
    });
    let dropped = repair(&copy.path().join("dynamodb"), || panic!("nothing to save")).unwrap();
    assert!(dropped.lines.is_empty(), "{:?}", dropped.lines);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "the journal was changed"
    );
    assert_eq!(keys(&Store::open(Some(copy.path())).unwrap()).len(), 20);
}

#[test]
fn the_start_names_the_repair_and_the_engines_repair_reports_the_loss() {
    let dir = tempfile::tempdir().unwrap();
    let (_running, copy) = crashed_copy(dir.path(), 3);
    let path = damage_group_of(copy.path(), 5);
    let refused = Store::open(Some(copy.path())).err().unwrap().to_string();
    assert!(refused.contains("wildrydes repair"), "{refused}");
    let report = crate::repair(copy.path()).unwrap();
    let text = report.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("repair: DynamoDB journal:"), "{text}");
    assert!(!text.contains("no damage found"), "{text}");
    let saved = report.saved.expect("a repair folder");
    assert!(saved.join("dynamodb-report.txt").exists());
    assert!(report.lost_bytes > 0);
    let store = Store::open(Some(copy.path())).unwrap();
    assert_eq!(keys(&store).len(), 20);
}

#[test]
fn a_torn_last_write_after_a_damaged_group_is_cut_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let (_running, copy) = crashed_copy(dir.path(), 3);
    damage_group_of(copy.path(), 5);
    let path = journal(copy.path());
    tamper(&path, |bytes| {
        let end = bytes.iter().rposition(|&b| b != 0).unwrap();
        bytes[end] ^= 0xff;
    });
    let (dropped, _) = refused_then_repaired(copy.path());
    assert_eq!(dropped.lines.len(), 2, "{:?}", dropped.lines);
    assert!(
        dropped.lines[1].contains("incomplete last write"),
        "{:?}",
        dropped.lines
    );
    // The middle group is the only one kept.
    let store = Store::open(Some(copy.path())).unwrap();
    assert_eq!(keys(&store), (10..20).map(key).collect::<Vec<_>>());
}
