//! The journal's files: frames, prepared zeros, torn ends and damage.

use super::*;

/// A change as a test writes it: kind, space, key, value.
type Change<'a> = (u8, u8, &'a [u8], Option<&'a [u8]>);

fn payload(ops: &[Change<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    begin(&mut out);
    for &(kind, space, key, value) in ops {
        push(&mut out, kind, space, key, value);
    }
    out
}

#[test]
fn changes_read_back_as_written() {
    let p = payload(&[
        (PUT, 1, b"k1", Some(b"v1")),
        (DELETE, 2, b"k2", None),
        (CLEAR, 3, b"", None),
    ]);
    let ops = ops(&p).unwrap();
    assert_eq!(ops.len(), 3);
    assert_eq!(
        (ops[0].kind, ops[0].key, ops[0].value),
        (PUT, &b"k1"[..], &b"v1"[..])
    );
    assert_eq!(
        (ops[1].kind, ops[1].space, ops[1].key),
        (DELETE, 2, &b"k2"[..])
    );
    assert_eq!((ops[2].kind, ops[2].key), (CLEAR, &b""[..]));
    assert!(is_empty(&payload(&[])));
}

#[test]
fn a_payload_cut_short_or_of_another_version_is_refused() {
    let p = payload(&[(PUT, 1, b"key", Some(b"value"))]);
    for n in 2..p.len() {
        assert!(ops(&p[..n]).is_err(), "cut at {n}");
    }
    let mut other = p.clone();
    other[0] = 9;
    assert!(ops(&other).unwrap_err().contains("format 9"));
    assert!(ops(&[]).is_err());
}

/// A journal file numbered `number` in `dir` holding `frames`.
fn written(dir: &Path, number: u64, frames: &[&[u8]]) -> PathBuf {
    let mut j = Journal::create(dir, number).unwrap();
    for f in frames {
        j.append(f).unwrap();
    }
    j.path().to_path_buf()
}

fn frames(found: &Found) -> Vec<&[u8]> {
    found.frames.iter().map(Vec::as_slice).collect()
}

#[test]
fn frames_come_back_in_order_oldest_file_first() {
    let dir = tempfile::tempdir().unwrap();
    written(dir.path(), 2, &[b"\x01three"]);
    written(dir.path(), 1, &[b"\x01one", b"\x01two"]);
    let r = read(dir.path()).unwrap();
    assert_eq!(frames(&r), [&b"\x01one"[..], b"\x01two", b"\x01three"]);
    assert_eq!((r.cut, r.files.len(), r.next), (0, 2, 3));
}

#[test]
fn a_rotated_journal_goes_on_in_the_next_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::create(dir.path(), 1).unwrap();
    j.append(b"\x01one").unwrap();
    let old = j.rotate().unwrap();
    j.append(b"\x01two").unwrap();
    assert_eq!(old, dir.path().join("journal.1.log"));
    assert_eq!(j.path(), dir.path().join("journal.2.log"));
    assert_eq!(
        frames(&read(dir.path()).unwrap()),
        [&b"\x01one"[..], b"\x01two"]
    );
    std::fs::remove_file(old).unwrap();
    assert_eq!(frames(&read(dir.path()).unwrap()), [&b"\x01two"[..]]);
}

#[test]
fn the_single_file_of_earlier_versions_is_read_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = written(dir.path(), 0, &[b"\x01old"]);
    std::fs::rename(path, dir.path().join("journal.log")).unwrap();
    written(dir.path(), 1, &[b"\x01new"]);
    assert_eq!(
        frames(&read(dir.path()).unwrap()),
        [&b"\x01old"[..], b"\x01new"]
    );
}

#[test]
fn a_prepared_file_ends_where_its_zeros_begin() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path()).unwrap();
    let path = written(dir.path(), 1, &[b"\x01one", b"\x01two"]);
    assert!(!dir.path().join(SPARE).exists(), "the spare was taken");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), PREPARED_BYTES);
    let r = read(dir.path()).unwrap();
    assert_eq!(frames(&r), [&b"\x01one"[..], b"\x01two"]);
    assert_eq!(r.cut, 0, "zeros are no torn frame");
    // Its header torn in a crash while it was started: nothing in it.
    let mut bytes = std::fs::read(&path).unwrap();
    let end = bytes.iter().rposition(|&b| b != 0).unwrap() + 1;
    bytes[log::SEG_HEADER as usize..end].fill(0);
    bytes[3] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    assert!(read(dir.path()).unwrap().frames.is_empty());
}

#[test]
fn a_torn_last_frame_is_cut_and_nothing_before_it_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = written(dir.path(), 1, &[b"\x01one", b"\x01two"]);
    let len = std::fs::metadata(&path).unwrap().len();
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len - 2).unwrap();
    let r = read(dir.path()).unwrap();
    assert_eq!(frames(&r), [&b"\x01one"[..]]);
    assert!(r.cut > 0);
    // In a file a newer one follows, the same tear is damage.
    written(dir.path(), 2, &[b"\x01three"]);
    let (file, err) = read(dir.path()).unwrap_err();
    assert_eq!(file, path);
    assert!(err.contains("a newer one follows"), "{err}");
}

#[test]
fn a_damaged_frame_before_an_intact_one_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = written(dir.path(), 1, &[b"\x01first-frame", b"\x01second-frame"]);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.windows(5).position(|w| w == b"first").unwrap();
    bytes[at] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let (file, err) = read(dir.path()).unwrap_err();
    assert_eq!(file, path);
    assert!(err.contains("intact frame"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn a_damaged_header_is_refused_and_a_torn_one_holds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = written(dir.path(), 1, &[b"\x01one"]);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[10] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    assert!(read(dir.path())
        .unwrap_err()
        .1
        .contains("header is damaged"));
    // Torn while started: part of a header, or a header's length of
    // zeros (its bytes never reached the disk).
    for torn in [bytes[..7].to_vec(), vec![0u8; log::SEG_HEADER as usize]] {
        std::fs::write(&path, &torn).unwrap();
        let r = read(dir.path()).unwrap();
        assert!(r.frames.is_empty());
        assert_eq!(r.files, std::slice::from_ref(&path));
    }
}
