//! DynamoDB numbers: exact decimals of up to 38 significant digits whose
//! magnitude lies between 1E-130 and 9.99…E+125, as the service enforces.
//!
//! A [`Number`] is kept normalised (no leading or trailing zero digits), so
//! equality is numeric equality, [`Ord`] is numeric order, [`Number::to_string`]
//! is the canonical form stored and returned, and [`Number::key_bytes`] is a
//! byte string whose bytewise order is the numeric order (for sort keys in an
//! ordered key-value store).

use std::cmp::Ordering;
use std::fmt;

/// The most significant digits a number may carry.
pub const MAX_DIGITS: usize = 38;
/// The largest decimal exponent (scientific notation, `d.ddd × 10^e`).
pub const MAX_EXPONENT: i32 = 125;
/// The smallest decimal exponent.
pub const MIN_EXPONENT: i32 = -130;

/// Why a string is not a DynamoDB number; `Display` is the service's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    /// Empty input.
    #[error("The parameter cannot be converted to a numeric value")]
    Empty,
    /// Not a decimal literal.
    #[error("The parameter cannot be converted to a numeric value: {0}")]
    NotNumeric(String),
    /// Exponent above [`MAX_EXPONENT`].
    #[error(
        "Number overflow. Attempting to store a number with magnitude larger than supported range"
    )]
    Overflow,
    /// Exponent below [`MIN_EXPONENT`].
    #[error("Number underflow. Attempting to store a number with magnitude smaller than supported range")]
    Underflow,
    /// More than [`MAX_DIGITS`] significant digits.
    #[error("Attempting to store more than 38 significant digits in a Number")]
    TooManyDigits,
}

/// An exact DynamoDB number: `sign × 0.d1d2…dn × 10^(exp+1)`, i.e. the
/// scientific exponent of the first digit is `exp`. Zero has no digits.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Number {
    negative: bool,
    /// Significant digits 0..=9, first and last non-zero; empty for zero.
    digits: Vec<u8>,
    /// Scientific exponent of the first digit (0 for zero).
    exp: i32,
}

impl Number {
    /// Zero.
    pub fn zero() -> Self {
        Number {
            negative: false,
            digits: Vec::new(),
            exp: 0,
        }
    }

    /// Parses a decimal literal (`-12.5`, `1e3`, `+.5`) and checks the
    /// service's limits.
    pub fn parse(text: &str) -> Result<Self, NumberError> {
        let n = Self::parse_unchecked(text)?;
        n.check()?;
        Ok(n)
    }

    /// True for zero.
    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// True below zero.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// Number of significant digits (1 for zero).
    pub fn significant_digits(&self) -> usize {
        self.digits.len().max(1)
    }

    /// Scientific exponent of the first significant digit.
    pub fn exponent(&self) -> i32 {
        self.exp
    }

    fn parse_unchecked(text: &str) -> Result<Self, NumberError> {
        if text.is_empty() {
            return Err(NumberError::Empty);
        }
        let bad = || NumberError::NotNumeric(text.to_string());
        let bytes = text.as_bytes();
        let mut i = 0;
        let mut negative = false;
        if bytes[0] == b'+' || bytes[0] == b'-' {
            negative = bytes[0] == b'-';
            i = 1;
        }
        let mut mantissa = Vec::with_capacity(bytes.len());
        let mut point: Option<usize> = None;
        while i < bytes.len() {
            match bytes[i] {
                b'0'..=b'9' => mantissa.push(bytes[i] - b'0'),
                b'.' if point.is_none() => point = Some(mantissa.len()),
                _ => break,
            }
            i += 1;
        }
        if mantissa.is_empty() {
            return Err(bad());
        }
        let mut e: i64 = 0;
        if i < bytes.len() {
            if bytes[i] != b'e' && bytes[i] != b'E' {
                return Err(bad());
            }
            i += 1;
            let mut eneg = false;
            if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
                eneg = bytes[i] == b'-';
                i += 1;
            }
            if i >= bytes.len() {
                return Err(bad());
            }
            while i < bytes.len() {
                let b = bytes[i];
                if !b.is_ascii_digit() {
                    return Err(bad());
                }
                // Saturate: anything this large is out of range anyway.
                e = (e * 10 + i64::from(b - b'0')).min(1 << 40);
                i += 1;
            }
            if eneg {
                e = -e;
            }
        }
        let int_len = point.unwrap_or(mantissa.len()) as i64;
        let Some(first) = mantissa.iter().position(|&d| d != 0) else {
            return Ok(Self::zero());
        };
        let last = mantissa.iter().rposition(|&d| d != 0).unwrap_or(first);
        let exp = int_len - 1 - first as i64 + e;
        // The significant digits, kept in the mantissa's buffer.
        mantissa.truncate(last + 1);
        mantissa.drain(..first);
        let digits = mantissa;
        let exp = exp.clamp(i64::from(i32::MIN / 2), i64::from(i32::MAX / 2)) as i32;
        Ok(Number {
            negative,
            digits,
            exp,
        })
    }

    /// Checks the service's limits, in the service's order (range, then digits).
    fn check(&self) -> Result<(), NumberError> {
        if self.is_zero() {
            return Ok(());
        }
        if self.exp > MAX_EXPONENT {
            return Err(NumberError::Overflow);
        }
        if self.exp < MIN_EXPONENT {
            return Err(NumberError::Underflow);
        }
        if self.digits.len() > MAX_DIGITS {
            return Err(NumberError::TooManyDigits);
        }
        Ok(())
    }

    /// Exact sum, checked against the limits.
    pub fn add(&self, other: &Number) -> Result<Number, NumberError> {
        let n = Self::sum(self, other);
        n.check()?;
        Ok(n)
    }

    /// Exact difference, checked against the limits.
    pub fn sub(&self, other: &Number) -> Result<Number, NumberError> {
        let mut neg = other.clone();
        if !neg.is_zero() {
            neg.negative = !neg.negative;
        }
        self.add(&neg)
    }

    /// Digits of `n` as an integer scaled so that the last digit sits at
    /// power `low` (low ≤ n's last digit power), most significant first.
    fn scaled(n: &Number, high: i32, low: i32) -> Vec<u8> {
        let mut out = vec![0u8; (high - low + 1) as usize];
        for (k, &d) in n.digits.iter().enumerate() {
            let power = n.exp - k as i32;
            out[(high - power) as usize] = d;
        }
        out
    }

    fn sum(a: &Number, b: &Number) -> Number {
        if a.is_zero() {
            return b.clone();
        }
        if b.is_zero() {
            return a.clone();
        }
        let high = a.exp.max(b.exp) + 1;
        let low = (a.exp - a.digits.len() as i32 + 1).min(b.exp - b.digits.len() as i32 + 1);
        let x = Self::scaled(a, high, low);
        let y = Self::scaled(b, high, low);
        let (negative, result) = if a.negative == b.negative {
            let mut r = vec![0u8; x.len()];
            let mut carry = 0;
            for k in (0..x.len()).rev() {
                let s = x[k] + y[k] + carry;
                r[k] = s % 10;
                carry = s / 10;
            }
            (a.negative, r)
        } else {
            // Subtract the smaller magnitude from the larger.
            let (big, small, negative) = match x.cmp(&y) {
                Ordering::Equal => return Number::zero(),
                Ordering::Greater => (&x, &y, a.negative),
                Ordering::Less => (&y, &x, b.negative),
            };
            let mut r = vec![0u8; x.len()];
            let mut borrow = 0i8;
            for k in (0..x.len()).rev() {
                let mut d = big[k] as i8 - small[k] as i8 - borrow;
                borrow = 0;
                if d < 0 {
                    d += 10;
                    borrow = 1;
                }
                r[k] = d as u8;
            }
            (negative, r)
        };
        let first = result.iter().position(|&d| d != 0).unwrap_or(0);
        let last = result.iter().rposition(|&d| d != 0).unwrap_or(first);
        Number {
            negative,
            digits: result[first..=last].to_vec(),
            exp: high - first as i32,
        }
    }

    /// A byte string whose bytewise order is the numeric order; self-delimiting
    /// (no encoding is a proper prefix of another), decodable by [`Number::from_key_bytes`].
    pub fn key_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.digits.len() + 3);
        if self.is_zero() {
            out.push(0x02);
            return out;
        }
        // The exponent fits a byte exactly: -130..=125 maps to 0..=255.
        let e = (self.exp - MIN_EXPONENT).clamp(0, 255) as u8;
        if self.negative {
            out.push(0x01);
            out.push(255 - e);
            out.extend(self.digits.iter().map(|d| 10 - d));
            out.push(0xff);
        } else {
            out.push(0x03);
            out.push(e);
            out.extend(self.digits.iter().map(|d| d + 1));
            out.push(0x00);
        }
        out
    }

    /// Decodes [`Number::key_bytes`]; returns the number and the bytes used.
    pub fn from_key_bytes(bytes: &[u8]) -> Option<(Number, usize)> {
        match *bytes.first()? {
            0x02 => Some((Number::zero(), 1)),
            tag @ (0x01 | 0x03) => {
                let negative = tag == 0x01;
                let e = *bytes.get(1)?;
                let e = if negative { 255 - e } else { e };
                let mut digits = Vec::new();
                let mut i = 2;
                loop {
                    let b = *bytes.get(i)?;
                    i += 1;
                    match (negative, b) {
                        (false, 0x00) | (true, 0xff) => break,
                        (false, 1..=10) => digits.push(b - 1),
                        (true, 1..=10) => digits.push(10 - b),
                        _ => return None,
                    }
                }
                if digits.first() == Some(&0) || digits.last() == Some(&0) || digits.is_empty() {
                    return None;
                }
                Some((
                    Number {
                        negative,
                        digits,
                        exp: i32::from(e) + MIN_EXPONENT,
                    },
                    i,
                ))
            }
            _ => None,
        }
    }

    /// The service's own bytes of the number, the ones its partition hash
    /// is taken of (the order of a Scan and its segments follow that hash):
    /// an exponent byte (base 100), then the digits in pairs, each pair
    /// stored as pair + 1, or as 101 - pair for a negative number, which
    /// ends with 102 when shorter than 20 pairs. Zero is the byte 0x80.
    pub fn hash_bytes(&self) -> Vec<u8> {
        if self.is_zero() {
            return vec![0x80];
        }
        // The decimal exponent of the form 0.ddd × 10^e, made even by a
        // leading zero digit so that the digits split into base-100 pairs.
        let exponent = self.exp + 1;
        let pad = exponent.rem_euclid(2);
        let mut digits = vec![0u8; pad as usize];
        digits.extend(&self.digits);
        let first = (exponent + pad).div_euclid(2) - 64;
        let mut out = Vec::with_capacity(digits.len() / 2 + 3);
        out.push(if self.negative { !first } else { first } as u8);
        for pair in digits.chunks(2) {
            let v = pair[0] * 10 + pair.get(1).copied().unwrap_or(0);
            out.push(if self.negative { 101 - v } else { v + 1 });
        }
        if self.negative && out.len() - 1 < 20 {
            out.push(102);
        }
        out
    }

    /// Size as DynamoDB counts it toward the item size.
    pub fn size(&self) -> usize {
        if self.is_zero() {
            return 1;
        }
        let n = self.digits.len();
        let pad = usize::from(n.is_multiple_of(2) && self.exp % 2 == 0);
        1 + n.div_ceil(2) + pad + usize::from(self.negative)
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        let class = |n: &Number| {
            if n.is_zero() {
                1
            } else if n.negative {
                0
            } else {
                2
            }
        };
        match class(self).cmp(&class(other)) {
            Ordering::Equal => {}
            o => return o,
        }
        if self.is_zero() {
            return Ordering::Equal;
        }
        let magnitude = self
            .exp
            .cmp(&other.exp)
            .then_with(|| self.digits.cmp(&other.digits));
        if self.negative {
            magnitude.reverse()
        } else {
            magnitude
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Number {
    /// Passes the number's decimal text (canonical plain notation, no
    /// exponent, as the service writes numbers: `-0.0012`, `1200`, `0`) to `f`, written on the stack when it fits (every number
    /// within the service's limits does).
    pub fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        let mut buf = [0u8; 192];
        let mut heap = Vec::new();
        let len = self.text_len();
        let out = match buf.get_mut(..len) {
            Some(out) => out,
            None => {
                heap.resize(len, 0);
                &mut heap[..]
            }
        };
        self.write_text(out);
        f(std::str::from_utf8(out).expect("digits, sign and point are ASCII"))
    }

    /// The length of the decimal text.
    fn text_len(&self) -> usize {
        if self.is_zero() {
            return 1;
        }
        let n = self.digits.len();
        let sign = usize::from(self.negative);
        match usize::try_from(self.exp) {
            // 0.000ddd
            Err(_) => sign + 2 + self.exp.unsigned_abs() as usize - 1 + n,
            // ddd000, or ddd.ddd
            Ok(e) if n <= e + 1 => sign + e + 1,
            Ok(_) => sign + n + 1,
        }
    }

    /// Writes the decimal text into `out`, exactly [`Number::text_len`] long.
    fn write_text(&self, out: &mut [u8]) {
        if self.is_zero() {
            out[0] = b'0';
            return;
        }
        let out = if self.negative {
            out[0] = b'-';
            &mut out[1..]
        } else {
            out
        };
        let n = self.digits.len();
        let ascii = |out: &mut [u8], digits: &[u8]| {
            for (o, d) in out.iter_mut().zip(digits) {
                *o = b'0' + d;
            }
        };
        match usize::try_from(self.exp) {
            Err(_) => {
                let zeros = self.exp.unsigned_abs() as usize - 1;
                out[..2].copy_from_slice(b"0.");
                out[2..2 + zeros].fill(b'0');
                ascii(&mut out[2 + zeros..], &self.digits);
            }
            Ok(e) if n <= e + 1 => {
                ascii(&mut out[..n], &self.digits);
                out[n..].fill(b'0');
            }
            Ok(e) => {
                ascii(&mut out[..=e], &self.digits[..=e]);
                out[e + 1] = b'.';
                ascii(&mut out[e + 2..], &self.digits[e + 1..]);
            }
        }
    }
}

/// Canonical plain notation, no exponent: [`Number::with_text`].
impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_text(|text| f.write_str(text))
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Number({self})")
    }
}

impl std::str::FromStr for Number {
    type Err = NumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Number::parse(s)
    }
}

#[cfg(test)]
#[path = "number_tests.rs"]
mod tests;
