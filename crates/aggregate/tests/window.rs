//! Deterministic tests of the windowing logic: injected times, no sleeps.

use std::time::Duration;

use aggregate::window::{handle, InputRecord, Invocation};
use aggregate::{Aggregator, AggregatorConfig, AggregatorState, Pushed, TimeMode};
use sensor::{Status, StatusTime, Summary};

fn t(s: &str) -> StatusTime {
    s.parse().unwrap()
}

fn status(name: &str, time: &str, distance: f64, magic: i64, health: i64) -> Vec<u8> {
    Status {
        name: name.into(),
        status_time: t(time),
        latitude: 40.7,
        longitude: -73.9,
        distance,
        magic_points: magic,
        health_points: health,
    }
    .to_json_line()
}

fn processing() -> AggregatorConfig {
    AggregatorConfig {
        window: Duration::from_secs(60),
        time: TimeMode::Processing,
    }
}

fn event(lateness: u64) -> AggregatorConfig {
    AggregatorConfig {
        window: Duration::from_secs(60),
        time: TimeMode::Event {
            allowed_lateness: Duration::from_secs(lateness),
        },
    }
}

#[test]
fn window_boundary_59_999_vs_00_000() {
    let mut agg = Aggregator::new(processing());
    let a = t("2017-06-05 09:17:59.999");
    let b = t("2017-06-05 09:18:00.000");
    assert_eq!(
        agg.push(
            &status("Shadowfax", "2017-06-05 09:17:59.000", 10.4, 150, 150),
            Some(a)
        ),
        Pushed::Accepted(t("2017-06-05 09:17:00.000"))
    );
    assert_eq!(
        agg.push(
            &status("Shadowfax", "2017-06-05 09:17:59.000", 20.0, 151, 149),
            Some(b)
        ),
        Pushed::Accepted(t("2017-06-05 09:18:00.000"))
    );
    // The watermark at :59.999 closes nothing; at :00.000 it closes :17.
    assert!(agg.advance_watermark(a).is_empty());
    let closed = agg.advance_watermark(b);
    assert_eq!(
        closed,
        vec![Summary {
            name: "Shadowfax".into(),
            status_time: t("2017-06-05 09:17:00.000"),
            distance: 10,
            min_magic_points: 150,
            max_magic_points: 150,
            min_health_points: 150,
            max_health_points: 150,
        }]
    );
    assert_eq!(
        String::from_utf8(closed[0].to_json_line()).unwrap(),
        "{\"Name\":\"Shadowfax\",\"StatusTime\":\"2017-06-05 09:17:00.000\",\"Distance\":10,\
         \"MinMagicPoints\":150,\"MaxMagicPoints\":150,\"MinHealthPoints\":150,\"MaxHealthPoints\":150}\n"
    );
    let closed = agg.advance_watermark(t("2017-06-05 09:19:00.000"));
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].distance, 20);
    assert_eq!(agg.open_windows(), 0);
}

#[test]
fn several_unicorns_sorted_and_silent_unicorn_gets_nothing() {
    let mut agg = Aggregator::new(processing());
    let names = ["Shadowfax", "Bucephalus", "Rocinante"];
    for sec in 0..60 {
        for (i, name) in names.iter().enumerate() {
            if *name == "Rocinante" && sec > 0 {
                continue;
            }
            let at = StatusTime::from_millis(t("2017-06-05 09:17:00.000").as_millis() + sec * 1000);
            let magic = 150 + (sec % 7) - i as i64;
            agg.push(
                &status(name, "2017-06-05 09:17:00.000", 30.25, magic, 150 - sec % 3),
                Some(at),
            );
        }
    }
    // Only Shadowfax in the next minute.
    agg.push(
        &status("Shadowfax", "2017-06-05 09:18:10.000", 29.5, 140, 140),
        Some(t("2017-06-05 09:18:10.000")),
    );
    let closed = agg.advance_watermark(t("2017-06-05 09:20:00.000"));
    let keys: Vec<_> = closed
        .iter()
        .map(|s| (s.status_time.to_string(), s.name.as_str()))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("2017-06-05 09:17:00.000".into(), "Bucephalus"),
            ("2017-06-05 09:17:00.000".into(), "Rocinante"),
            ("2017-06-05 09:17:00.000".into(), "Shadowfax"),
            ("2017-06-05 09:18:00.000".into(), "Shadowfax"),
        ]
    );
    assert_eq!(closed[0].distance, 1815); // 60 * 30.25
    assert_eq!(closed[0].min_magic_points, 149);
    assert_eq!(closed[0].max_magic_points, 155);
    assert_eq!(closed[0].min_health_points, 148);
    assert_eq!(closed[0].max_health_points, 150);
    assert_eq!(closed[1].distance, 30);
    assert_eq!(agg.counters().accepted, 60 * 2 + 1 + 1);
    assert_eq!(agg.counters().emitted, 4);
}

#[test]
fn event_time_out_of_order_and_late() {
    let mut agg = Aggregator::new(event(10));
    // Out of order within the lateness: accepted.
    agg.push(&status("A", "2017-06-05 09:17:30.000", 1.0, 100, 100), None);
    agg.push(&status("A", "2017-06-05 09:18:05.000", 2.0, 100, 100), None);
    assert_eq!(
        agg.push(&status("A", "2017-06-05 09:17:55.000", 4.0, 90, 110), None),
        Pushed::Accepted(t("2017-06-05 09:17:00.000"))
    );
    assert!(agg.close_ready().is_empty()); // watermark 09:17:55
    agg.push(&status("B", "2017-06-05 09:18:10.000", 8.0, 100, 100), None);
    let closed = agg.close_ready(); // watermark 09:18:00
    assert_eq!(closed.len(), 1);
    assert_eq!(
        (
            closed[0].distance,
            closed[0].min_magic_points,
            closed[0].max_health_points
        ),
        (5, 90, 110)
    );
    // Later than the watermark minus lateness: counted, not added.
    assert_eq!(
        agg.push(&status("A", "2017-06-05 09:17:59.000", 100.0, 1, 1), None),
        Pushed::Late(t("2017-06-05 09:17:00.000"))
    );
    assert_eq!(agg.counters().late, 1);
    // Idle stream: the caller's wall clock closes the rest.
    let closed = agg.advance_watermark(t("2017-06-05 09:19:00.000"));
    assert_eq!(
        closed.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["A", "B"]
    );
    assert_eq!(closed[0].distance, 2);
}

#[test]
fn processing_time_ignores_status_time() {
    let mut agg = Aggregator::new(processing());
    assert_eq!(
        agg.push(
            &status("A", "2001-01-01 00:00:00.000", 1.0, 1, 1),
            Some(t("2017-06-05 09:17:01.000"))
        ),
        Pushed::Accepted(t("2017-06-05 09:17:00.000"))
    );
    agg.advance_watermark(t("2017-06-05 09:18:00.000"));
    // An arrival in a closed window (another shard lagging) is late.
    assert_eq!(
        agg.push(
            &status("A", "2017-06-05 09:17:59.000", 1.0, 1, 1),
            Some(t("2017-06-05 09:17:59.000"))
        ),
        Pushed::Late(t("2017-06-05 09:17:00.000"))
    );
    // The watermark never goes back.
    agg.advance_watermark(t("2000-01-01 00:00:00.000"));
    assert_eq!(agg.watermark(), Some(t("2017-06-05 09:18:00.000")));
}

#[test]
fn invalid_records_are_counted_and_skipped() {
    let mut agg = Aggregator::new(processing());
    let at = Some(t("2017-06-05 09:17:01.000"));
    let long = format!(
        "{{\"Name\":\"{}\",\"StatusTime\":\"2017-06-05 09:17:09.191\",\"Latitude\":1,\"Longitude\":1,\"Distance\":1,\"MagicPoints\":1,\"HealthPoints\":1}}",
        "x".repeat(300)
    );
    let bad: [&[u8]; 7] = [
        b"",
        b"not json",
        b"{}",
        b"\xff\xfe",
        br#"{"Name":"","StatusTime":"2017-06-05 09:17:09.191","Latitude":1,"Longitude":1,"Distance":1,"MagicPoints":1,"HealthPoints":1}"#,
        br#"{"Name":"A","StatusTime":"yesterday","Latitude":1,"Longitude":1,"Distance":1,"MagicPoints":1,"HealthPoints":1}"#,
        long.as_bytes(),
    ];
    for data in bad {
        assert_eq!(agg.push(data, at), Pushed::Invalid);
    }
    agg.push(&status("A", "2017-06-05 09:17:01.000", 3.0, 5, 6), at);
    assert_eq!(agg.counters().invalid, 7);
    assert_eq!(agg.counters().accepted, 1);
    assert_eq!(agg.advance_watermark(t("2017-06-05 09:18:00.000")).len(), 1);
}

#[test]
fn distances_that_overflow_a_summary_are_invalid_records() {
    let mut agg = Aggregator::new(processing());
    let at = Some(t("2017-06-05 09:17:01.000"));
    // Alone, or added to what the window holds: past 2^63 it cannot be a
    // summary's Distance (it used to become 9223372036854775807).
    assert_eq!(
        agg.push(&status("A", "2017-06-05 09:17:01.000", 1e308, 5, 6), at),
        Pushed::Invalid
    );
    let big = 9.0e18;
    assert!(matches!(
        agg.push(&status("B", "2017-06-05 09:17:01.000", big, 5, 6), at),
        Pushed::Accepted(_)
    ));
    assert_eq!(
        agg.push(&status("B", "2017-06-05 09:17:02.000", big, 5, 6), at),
        Pushed::Invalid
    );
    agg.push(&status("A", "2017-06-05 09:17:03.000", 3.0, 5, 6), at);
    assert_eq!(agg.counters().invalid, 2);
    assert_eq!(agg.counters().accepted, 2);
    let summaries = agg.advance_watermark(t("2017-06-05 09:18:00.000"));
    let distances: Vec<(String, i64)> = summaries
        .iter()
        .map(|s| (s.name.clone(), s.distance))
        .collect();
    assert_eq!(
        distances,
        [
            ("A".to_owned(), 3),
            ("B".to_owned(), 9_000_000_000_000_000_000)
        ]
    );
}

/// Everything logged on this thread while `f` runs, as the binaries print it.
///
/// One global subscriber routes each thread's lines to that thread's capture:
/// with scoped subscribers, tests logging at the same time on other threads
/// (with no subscriber) can leave a callsite's cached interest at "never".
fn logged(f: impl FnOnce()) -> String {
    use std::cell::RefCell;
    thread_local! {
        static CAPTURE: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
    }
    struct Route;
    impl std::io::Write for Route {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            CAPTURE.with(|c| {
                if let Some(buf) = c.borrow_mut().as_mut() {
                    buf.extend_from_slice(bytes);
                }
            });
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| Route)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
    });
    CAPTURE.with(|c| *c.borrow_mut() = Some(Vec::new()));
    f();
    let bytes = CAPTURE.with(|c| c.borrow_mut().take()).unwrap_or_default();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn bad_records_are_logged_on_one_line_with_control_bytes_escaped() {
    let mut agg = Aggregator::new(processing());
    let at = Some(t("2017-06-05 09:17:01.000"));
    let later = Some(t("2017-06-05 09:20:01.000"));
    let log = logged(|| {
        // Not a status: its bytes are shown.
        agg.push(b"junk\r\n2017 WARN forged line\x1b[31m\x07\x00", at);
        // Not a status either; the parser's message quotes the unknown key
        // (a JSON escape that decodes to raw control characters).
        agg.push(br#"{"\u001b[2J\r\nWARN forged key": 1}"#, at);
        // A late record logs its Name.
        agg.advance_watermark(t("2017-06-05 09:19:00.000"));
        agg.push(
            &status(
                "\u{1b}[2J\r\nWARN forged name",
                "2017-06-05 09:17:01.000",
                1.0,
                5,
                6,
            ),
            at,
        );
        // An overflowing Distance logs the Name too.
        agg.push(
            &status(
                "\u{1b}]0;title\u{7}",
                "2017-06-05 09:20:01.000",
                1e308,
                5,
                6,
            ),
            later,
        );
    });
    assert_eq!(agg.counters().invalid, 3, "{log}");
    assert_eq!(agg.counters().late, 1, "{log}");
    assert_eq!(
        log.lines().count(),
        4,
        "one line per skipped record:\n{log}"
    );
    assert!(
        !log.chars().any(|c| c.is_control() && c != '\n'),
        "raw control characters in {log:?}"
    );
    for shown in [
        r"junk\r\n2017 WARN forged line\u{1b}[31m\u{7}\u{0}",
        r"\u{1b}[2J\r\nWARN forged key",
        r"\u{1b}[2J\r\nWARN forged name",
        r"\u{1b}]0;title\u{7}",
    ] {
        assert!(log.contains(shown), "{shown:?} not in {log}");
    }
}

/// A deterministic stream of (data, arrival) over a few minutes.
fn stream() -> Vec<(Vec<u8>, StatusTime)> {
    let base = t("2017-06-05 09:17:00.000").as_millis();
    let mut out = Vec::new();
    for n in 0..400i64 {
        let at = StatusTime::from_millis(base + n * 613);
        let name = ["A", "B", "C"][(n % 3) as usize];
        let data = if n % 37 == 0 {
            b"garbage".to_vec()
        } else {
            status(
                name,
                &at.to_string(),
                29.0 + (n % 5) as f64 * 0.5,
                150 - n % 11,
                150 + n % 13,
            )
        };
        out.push((data, at));
    }
    out
}

fn run_all(agg: &mut Aggregator, records: &[(Vec<u8>, StatusTime)]) -> Vec<Summary> {
    let mut out = Vec::new();
    for (data, at) in records {
        agg.push(data, Some(*at));
        out.extend(agg.advance_watermark(*at));
    }
    out
}

#[test]
fn restart_from_serialized_state_gives_identical_output() {
    for config in [processing(), event(5)] {
        let records = stream();
        let mut whole = Aggregator::new(config);
        let mut expected = run_all(&mut whole, &records);
        expected.extend(whole.flush());

        for cut in [0, 1, 150, 399, 400] {
            let mut first = Aggregator::new(config);
            let mut got = run_all(&mut first, &records[..cut]);
            let saved = serde_json::to_string(first.state()).unwrap();
            drop(first);
            let state: AggregatorState = serde_json::from_str(&saved).unwrap();
            let mut second = Aggregator::with_state(config, state);
            got.extend(run_all(&mut second, &records[cut..]));
            got.extend(second.flush());
            assert_eq!(got, expected, "cut at {cut}");
            assert_eq!(second.counters(), whole.counters());
        }
    }
}

#[test]
fn lambda_handler_runs_the_same_code() {
    let records = stream();
    let config = processing();
    let mut agg = Aggregator::new(config);
    let mut expected = run_all(&mut agg, &records);
    expected.extend(agg.flush());

    let mut state = None;
    let mut got = Vec::new();
    for (i, chunk) in records.chunks(64).enumerate() {
        let last = chunk.last().unwrap().1.as_millis();
        let response = handle(
            config,
            Invocation {
                state: state.take(),
                records: chunk
                    .iter()
                    .map(|(data, at)| InputRecord {
                        data: data.clone(),
                        arrival_millis: Some(at.as_millis()),
                    })
                    .collect(),
                watermark_millis: Some(last),
                is_final: i == records.len().div_ceil(64) - 1,
            },
        );
        // The state crosses a JSON boundary like Lambda's.
        let json = serde_json::to_vec(&response.state).unwrap();
        state = Some(serde_json::from_slice(&json).unwrap());
        got.extend(response.summaries);
    }
    assert_eq!(got, expected);
}

#[test]
fn tiny_and_odd_windows_do_not_panic() {
    for ms in [0, 1, 7, 1000] {
        let mut agg = Aggregator::new(AggregatorConfig {
            window: Duration::from_millis(ms),
            time: TimeMode::Event {
                allowed_lateness: Duration::MAX,
            },
        });
        agg.push(
            &status("A", "1970-01-01 00:00:00.000", 4e18, i64::MAX, i64::MIN),
            None,
        );
        agg.push(
            &status("A", "1970-01-01 00:00:00.000", 4e18, i64::MIN, i64::MAX),
            None,
        );
        // Past what a summary holds: invalid (see the overflow test).
        agg.push(&status("A", "1970-01-01 00:00:00.000", 1e300, 0, 0), None);
        let out = agg.advance_watermark(StatusTime::from_millis(i64::MAX));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].distance, 8_000_000_000_000_000_000);
        assert_eq!(agg.counters().invalid, 1);
    }
}
