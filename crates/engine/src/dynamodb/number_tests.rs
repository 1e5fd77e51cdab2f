use super::*;
use proptest::prelude::*;

fn n(s: &str) -> Number {
    Number::parse(s).unwrap()
}

#[test]
fn canonical_forms() {
    for (input, canonical) in [
        ("0", "0"),
        ("-0", "0"),
        ("0.000", "0"),
        ("+1", "1"),
        ("001.500", "1.5"),
        ("1e3", "1000"),
        ("1.23E-2", "0.0123"),
        ("-12.5", "-12.5"),
        (".5", "0.5"),
        ("5.", "5"),
        (
            "123456789012345678901234567890.12345678",
            "123456789012345678901234567890.12345678",
        ),
    ] {
        assert_eq!(n(input).to_string(), canonical, "{input}");
    }
}

#[test]
fn the_extremes_are_written_in_full_and_beyond_them_too() {
    let largest = format!("-{}{}", "9".repeat(38), "0".repeat(88));
    assert_eq!(n(&format!("-{}e88", "9".repeat(38))).to_string(), largest);
    let smallest = format!("-0.{}{}", "0".repeat(129), "9".repeat(38));
    assert_eq!(
        n(&format!("-{}e-167", "9".repeat(38))).to_string(),
        smallest
    );
    // Past the stack buffer (numbers out of the service's range, as a sum
    // is before its check).
    let huge = Number::parse_unchecked("1e300").unwrap();
    assert_eq!(huge.to_string(), format!("1{}", "0".repeat(300)));
}

#[test]
fn rejects_non_numbers_with_the_service_wording() {
    assert_eq!(
        Number::parse("").unwrap_err().to_string(),
        "The parameter cannot be converted to a numeric value"
    );
    for bad in [
        "abc", "1.2.3", "1e", "--1", "1e+", " 1", "0x10", "NaN", "Infinity", ".",
    ] {
        assert_eq!(
            Number::parse(bad).unwrap_err().to_string(),
            format!("The parameter cannot be converted to a numeric value: {bad}"),
            "{bad}"
        );
    }
}

#[test]
fn limits_are_the_services() {
    assert!(Number::parse("9.9999999999999999999999999999999999999E+125").is_ok());
    assert!(Number::parse("1E-130").is_ok());
    assert!(Number::parse("-1E-130").is_ok());
    assert_eq!(Number::parse("1E+126").unwrap_err(), NumberError::Overflow);
    assert_eq!(Number::parse("-1E+126").unwrap_err(), NumberError::Overflow);
    assert_eq!(Number::parse("1E-131").unwrap_err(), NumberError::Underflow);
    assert_eq!(
        Number::parse("1E-131").unwrap_err().to_string(),
        "Number underflow. Attempting to store a number with magnitude smaller than supported range"
    );
    assert_eq!(
        Number::parse("1E+999999999999").unwrap_err().to_string(),
        "Number overflow. Attempting to store a number with magnitude larger than supported range"
    );
    let digits38 = "1".repeat(38);
    assert!(Number::parse(&digits38).is_ok());
    let digits39 = "1".repeat(39);
    assert_eq!(
        Number::parse(&digits39).unwrap_err().to_string(),
        "Attempting to store more than 38 significant digits in a Number"
    );
    // Trailing and leading zeros are not significant.
    assert!(Number::parse(&format!("000{digits38}000")).is_ok());
}

#[test]
fn arithmetic_is_exact() {
    assert_eq!(n("0.1").add(&n("0.2")).unwrap(), n("0.3"));
    assert_eq!(n("1").sub(&n("1")).unwrap(), Number::zero());
    assert_eq!(n("-5").add(&n("3")).unwrap(), n("-2"));
    assert_eq!(
        n("1e20").add(&n("1e-17")).unwrap().to_string(),
        "100000000000000000000.00000000000000001"
    );
    assert_eq!(n("99").add(&n("1")).unwrap(), n("100"));
    assert_eq!(n("1e38").sub(&n("1")).unwrap().to_string(), "9".repeat(38));
    assert_eq!(
        n("1e38").add(&n("1")).unwrap_err(),
        NumberError::TooManyDigits
    );
    assert_eq!(
        n("9.9999999999999999999999999999999999999E+125")
            .add(&n("1e88"))
            .unwrap_err(),
        NumberError::Overflow
    );
}

#[test]
fn sizes_follow_the_digit_count() {
    assert_eq!(n("0").size(), 1);
    assert_eq!(n("1").size(), 2);
    assert_eq!(n("-1").size(), 3);
    assert_eq!(n("12345").size(), 4);
    assert!(n(&"9".repeat(38)).size() <= 21);
}

#[test]
fn key_bytes_examples_sort_numerically() {
    let sorted = [
        "-1e125", "-100", "-1.23", "-1.2", "-1", "-1e-130", "0", "1e-130", "0.5", "1", "1.2",
        "1.23", "100", "9e125",
    ];
    let keys: Vec<Vec<u8>> = sorted.iter().map(|s| n(s).key_bytes()).collect();
    for w in keys.windows(2) {
        assert!(w[0] < w[1]);
    }
    for s in sorted {
        let bytes = n(s).key_bytes();
        assert_eq!(Number::from_key_bytes(&bytes), Some((n(s), bytes.len())));
    }
    assert_eq!(Number::from_key_bytes(&[0x03, 4, 0]), None);
    assert_eq!(Number::from_key_bytes(&[0x07]), None);
    assert_eq!(Number::from_key_bytes(&[]), None);
}

fn number() -> impl Strategy<Value = Number> {
    (
        any::<bool>(),
        proptest::collection::vec(0u8..10, 1..=38),
        MIN_EXPONENT..=MAX_EXPONENT,
    )
        .prop_map(|(neg, digits, exp)| {
            let text: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            let sign = if neg { "-" } else { "" };
            // digits d1…dn × 10^(exp - n + 1) keeps the first digit's exponent ≤ exp.
            let e = exp - digits.len() as i32 + 1;
            Number::parse_unchecked(&format!("{sign}{text}e{e}")).unwrap()
        })
}

proptest! {
    #[test]
    fn key_bytes_order_is_numeric_order(a in number(), b in number()) {
        prop_assert_eq!(a.key_bytes().cmp(&b.key_bytes()), a.cmp(&b));
    }

    #[test]
    fn canonical_form_round_trips(a in number()) {
        prop_assume!(a.check().is_ok());
        let text = a.to_string();
        let back = Number::parse(&text).unwrap();
        prop_assert_eq!(&back, &a);
        prop_assert_eq!(back.to_string(), text);
        let bytes = a.key_bytes();
        prop_assert_eq!(Number::from_key_bytes(&bytes), Some((a, bytes.len())));
    }

    #[test]
    fn add_then_sub_is_identity(a in number(), b in number()) {
        if let Ok(s) = a.add(&b) {
            if let Ok(back) = s.sub(&b) {
                prop_assert_eq!(back, a);
            }
        }
    }

    #[test]
    fn parse_never_panics(s in "\\PC{0,40}") {
        let _ = Number::parse(&s);
    }
}
