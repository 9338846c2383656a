//! The small representation against the big one: every operation agrees with `BigDecimal`
//! arithmetic on either side of the i64 boundary, and values that are equal compare equal
//! whichever representation and scale they have.
#![allow(clippy::unwrap_used)]

use super::{Numeric, Repr};
use bigdecimal::num_bigint::BigInt;
use bigdecimal::BigDecimal;
use proptest::prelude::*;
use std::cmp::Ordering;

fn n(s: &str) -> Numeric {
    Numeric::parse(s).unwrap()
}

fn is_small(x: &Numeric) -> bool {
    matches!(x.0, Repr::Small(..))
}

/// Digits near the i64 boundary as often as ordinary ones.
fn digits() -> impl Strategy<Value = i128> {
    prop_oneof![
        any::<i32>().prop_map(i128::from),
        any::<i64>().prop_map(i128::from),
        (-4i128..4).prop_map(|d| i128::from(i64::MAX) + d),
        (-4i128..4).prop_map(|d| i128::from(i64::MIN) + d),
        any::<i128>().prop_map(|v| v >> 40),
    ]
}

fn decimal(m: i128, s: i64) -> BigDecimal {
    BigDecimal::new(BigInt::from(m), s)
}

#[test]
fn values_that_fit_an_i64_are_small_and_others_big() {
    assert!(is_small(&n("9223372036854775807")));
    assert!(!is_small(&n("9223372036854775808")));
    assert!(is_small(&n("-9223372036854775808")));
    assert!(is_small(&n("12.50")));
    // The negation of i64::MIN leaves the small range; negating back returns to it.
    let min = n("-9223372036854775808");
    assert!(!is_small(&min.neg()));
    assert!(is_small(&min.neg().neg()));
    assert_eq!(min.neg().to_string(), "9223372036854775808");
    // A product past i64 is big, with every digit.
    let p = n("9223372036854775807").mul(&n("10.0"));
    assert!(!is_small(&p));
    assert_eq!(p.to_string(), "92233720368547758070.0");
}

#[test]
fn equal_values_are_equal_whatever_their_scale_or_representation() {
    assert_eq!(n("1.0"), n("1.00"));
    assert_eq!(n("1.0").cmp_total(&n("1.00")), Ordering::Equal);
    assert_eq!(n("1.0").to_string(), "1.0");
    assert_ne!(n("1.01"), n("1.1"));
    // One small, one big, the same value.
    let big = n("9223372036854775808");
    let small_then_big = n("9223372036854775807").add(&n("1"));
    assert_eq!(big, small_then_big);
    assert!(n("9223372036854775807") < big);
    assert!(n("-9223372036854775809") < n("-9223372036854775808"));
    // Scales too far apart to align in 128 bits still compare.
    assert!(n("1e-40") < n("9223372036854775807"));
    assert!(n("0.0000000000000000000000000000000000000001") > n("0"));
    assert_eq!(Numeric::nan(), Numeric::nan());
    assert!(Numeric::nan() > n("9223372036854775808"));
    assert!(Numeric::neg_infinity() < n("-9223372036854775809"));
}

#[test]
fn small_values_convert_to_the_nearest_double() {
    for s in [
        "0.1",
        "123.45",
        "-0.07",
        "9007199254740991",
        "1e-22",
        "38273.129734621672",
    ] {
        assert_eq!(n(s).to_f64(), s.parse::<f64>().unwrap(), "{s}");
    }
}

#[test]
fn binary_form_round_trips_across_the_boundary() {
    for s in [
        "0",
        "0.00",
        "1",
        "-1",
        "12.5",
        "0.0001",
        "-0.00001",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
        "123456789012345678901234567890.123456789",
        "10000",
        "100000000.0000",
    ] {
        let x = n(s);
        let mut wire = Vec::new();
        x.to_binary(&mut wire);
        let back = Numeric::from_binary(&wire).unwrap();
        assert_eq!(back.to_string(), x.to_string(), "{s}");
        assert_eq!(is_small(&back), is_small(&x), "{s}");
    }
}

proptest! {
    #[test]
    fn arithmetic_and_order_agree_with_bigdecimal(
        a in digits(), sa in 0i64..12, b in digits(), sb in 0i64..12,
    ) {
        let (x, y) = (decimal(a, sa), decimal(b, sb));
        let p = Numeric::from_parts(BigInt::from(a), sa);
        let q = Numeric::from_parts(BigInt::from(b), sb);
        prop_assert_eq!(is_small(&p), i64::try_from(a).is_ok());
        prop_assert_eq!(p.add(&q).to_bigdecimal(), Some(&x + &y));
        prop_assert_eq!(p.sub(&q).to_bigdecimal(), Some(&x - &y));
        prop_assert_eq!(p.mul(&q).to_bigdecimal(), Some(&x * &y));
        prop_assert_eq!(p.neg().to_bigdecimal(), Some(-x.clone()));
        prop_assert_eq!(p.cmp_total(&q), x.cmp(&y));
        prop_assert_eq!(p == q, x == y);
        // Canonical: whatever produced a value, small exactly when its digits fit.
        for r in [p.add(&q), p.sub(&q), p.mul(&q), p.neg()] {
            let (digits, _) = r.parts().unwrap();
            prop_assert_eq!(is_small(&r), i64::try_from(digits).is_ok());
        }
        let mut wire = Vec::new();
        p.to_binary(&mut wire);
        let back = Numeric::from_binary(&wire).unwrap();
        prop_assert_eq!(back.to_bigdecimal(), Some(x.clone()));
        prop_assert_eq!(back.scale(), sa);
        prop_assert_eq!(back.to_string(), p.to_string());
    }
}
