//! Unit tests of `state`.

use super::*;

#[test]
fn constant_size_states_round_trip() {
    let cases = [
        (
            encode_fixed(1_700_000_000_123, 42),
            State::Fixed {
                start_ms: 1_700_000_000_123,
                count: 42,
            },
        ),
        (
            encode_sliding(U48_MAX, 0, U48_MAX),
            State::Sliding {
                start_ms: U48_MAX,
                prev: 0,
                cur: U48_MAX,
            },
        ),
        (encode_gcra(u64::MAX), State::Gcra { tat_ns: u64::MAX }),
    ];
    for (encoded, state) in cases {
        assert_eq!(decode(encoded.as_bytes()), Ok(state));
    }
    assert_eq!(encode_fixed(1, 1).as_bytes().len(), 13);
    assert_eq!(encode_sliding(1, 1, 1).as_bytes().len(), 9);
    assert_eq!(
        encode_sliding(1, (1 << 21) - 1, (1 << 21) - 1)
            .as_bytes()
            .len(),
        13
    );
    assert_eq!(encode_sliding(1, U48_MAX, U48_MAX).as_bytes().len(), 21);
    assert_eq!(encode_gcra(1).as_bytes().len(), 9);
}

#[test]
fn varints_round_trip_and_reject_non_canonical_forms() {
    for v in [0, 1, 127, 128, 16_383, 16_384, 1 << 21, U48_MAX] {
        let e = encode_sliding(7, v, v);
        assert_eq!(
            decode(e.as_bytes()),
            Ok(State::Sliding {
                start_ms: 7,
                prev: v,
                cur: v
            })
        );
    }
    let mut body = encode_sliding(7, 0, 0).as_bytes().to_vec();
    body.push(0);
    assert_eq!(decode(&body), Err(NotState), "trailing byte");
    let padded = [TAG_SLIDING, 7, 0, 0, 0, 0, 0, 0x80, 0x00, 0x00];
    assert_eq!(
        decode(&padded),
        Err(NotState),
        "redundant zero continuation"
    );
    let unterminated = [TAG_SLIDING, 7, 0, 0, 0, 0, 0, 0x80, 0x80];
    assert_eq!(decode(&unterminated), Err(NotState));
}

#[test]
fn log_round_trips_in_order() {
    let mut out = vec![0u8; log_len(3)];
    encode_log_into(&mut out, [5u64, 9].into_iter(), 1, 11);
    let State::Log(entries) = decode(&out).unwrap() else {
        panic!("not a log")
    };
    assert_eq!(entries.iter().collect::<Vec<_>>(), vec![5, 9, 11]);
    assert_eq!(entries.get(1), 9);
    assert_eq!(entries.len(), 3);
    assert_eq!(
        decode(&[TAG_LOG]),
        Ok(State::Log(LogEntries { bytes: &[] }))
    );
}

#[test]
fn foreign_values_are_not_state() {
    let mut unordered = vec![0u8; log_len(2)];
    encode_log_into(&mut unordered, [9u64, 5].into_iter(), 0, 0);
    let fixed = encode_fixed(1, 1);
    let foreign: [&[u8]; 9] = [
        b"",
        b"hello",
        b"12",
        b"\xa1too short",
        &fixed.as_bytes()[..12],
        &[TAG_GCRA; 10],
        &[TAG_LOG, 1, 2, 3],
        &unordered,
        "\u{e9}t\u{e9} UTF-8 text".as_bytes(),
    ];
    for f in foreign {
        assert_eq!(decode(f), Err(NotState), "{f:?}");
    }
}

/// Stores `bytes` compactly and reads the text back, as Redis would hand it over.
fn via_compact(bytes: &[u8], expire_at_ms: u64) -> Option<State<'static>> {
    let text = compact(bytes, expire_at_ms)?.to_string();
    match decode_with(text.as_bytes(), || Some(expire_at_ms)) {
        Ok(State::Fixed { start_ms, count }) => Some(State::Fixed { start_ms, count }),
        Ok(State::Gcra { tat_ns }) => Some(State::Gcra { tat_ns }),
        other => panic!("{text} decoded as {other:?}"),
    }
}

#[test]
fn compact_form_round_trips_relative_to_the_expiry() {
    let fixed = encode_fixed(1_700_000_000_000, 7);
    assert_eq!(
        via_compact(fixed.as_bytes(), 1_700_000_060_000),
        Some(State::Fixed {
            start_ms: 1_700_000_000_000,
            count: 7
        })
    );
    let tat_ns = 1_700_000_000_123_456_789;
    let gcra = encode_gcra(tat_ns);
    assert_eq!(
        via_compact(gcra.as_bytes(), tat_ns.div_ceil(NS_PER_MS)),
        Some(State::Gcra { tat_ns })
    );
    // The bounds of the compact ranges are inclusive.
    let widest = encode_fixed(1_000, COMPACT_COUNT_MAX);
    assert_eq!(
        via_compact(widest.as_bytes(), 1_000 + COMPACT_SPAN_MAX),
        Some(State::Fixed {
            start_ms: 1_000,
            count: COMPACT_COUNT_MAX
        })
    );
}

#[test]
fn states_outside_the_compact_ranges_stay_binary() {
    let many = encode_fixed(1_000, COMPACT_COUNT_MAX + 1);
    assert_eq!(compact(many.as_bytes(), 61_000), None, "count over 24 bits");
    let long = encode_fixed(1_000, 1);
    assert_eq!(compact(long.as_bytes(), 1_001 + COMPACT_SPAN_MAX), None);
    assert_eq!(
        compact(long.as_bytes(), 999),
        None,
        "expiry before the start"
    );
    let late = encode_gcra(5 * NS_PER_MS + 1);
    assert_eq!(compact(late.as_bytes(), 5), None, "expiry before the TAT");
    assert_eq!(compact(encode_sliding(1, 2, 3).as_bytes(), 9), None);
    let mut log = vec![0u8; log_len(1)];
    encode_log_into(&mut log, std::iter::empty(), 1, 5);
    assert_eq!(compact(&log, 10), None);
}

#[test]
fn compact_values_need_their_expiry_and_their_tag() {
    let text = compact(encode_fixed(1_000, 3).as_bytes(), 2_000)
        .unwrap()
        .to_string();
    assert!(text.starts_with("-"), "{text}");
    // Without an expiry (the key was made persistent) the value means nothing.
    assert_eq!(decode(text.as_bytes()), Err(NotState));
    assert_eq!(decode_with(text.as_bytes(), || None), Err(NotState));
    // Counters, and integers with any other tag, are not state.
    for other in [
        "-1",
        "-42",
        "7",
        "0",
        "-9223372036854775808",
        "9223372036854775807",
    ] {
        assert_eq!(
            decode_with(other.as_bytes(), || Some(2_000)),
            Err(NotState),
            "{other}"
        );
    }
    // An expiry earlier than the span it must hold is not state either, nor one
    // that puts the start beyond the binary form's 48 bits.
    assert_eq!(decode_with(text.as_bytes(), || Some(999)), Err(NotState));
    assert_eq!(
        decode_with(text.as_bytes(), || Some(U48_MAX + 1_001)),
        Err(NotState)
    );
    assert!(decode_with(text.as_bytes(), || Some(U48_MAX + 1_000)).is_ok());
}

#[test]
fn only_canonical_integer_text_is_parsed() {
    for good in [
        "0",
        "-1",
        "42",
        "-9223372036854775808",
        "9223372036854775807",
    ] {
        assert_eq!(parse_i64(good.as_bytes()), Ok(good.parse().unwrap()));
    }
    for bad in [
        "",
        "-",
        "-0",
        "007",
        "-07",
        "+7",
        " 7",
        "7 ",
        "1e3",
        "9223372036854775808",
        "-9223372036854775809",
        "-99999999999999999999",
    ] {
        assert_eq!(parse_i64(bad.as_bytes()), Err(NotState), "{bad:?}");
    }
    // Only negative numbers can be compact values; binary state is none.
    assert_eq!(compact_value(b"-42"), Some(-42));
    assert_eq!(compact_value(b"42"), None);
    assert_eq!(compact_value(b"-042"), None);
    assert_eq!(compact_value(encode_fixed(1, 2).as_bytes()), None);
}

/// Values up to `max + 10`, half of them within 10 of `max`: the edge where a state
/// stops fitting the compact form is drawn as often as the rest (a uniform draw would
/// reach the refusals once in millions).
fn up_to_and_past(max: u64) -> impl proptest::strategy::Strategy<Value = u64> {
    use proptest::prelude::*;
    prop_oneof![0u64..=max + 10, max.saturating_sub(10)..=max + 10]
}

proptest::proptest! {
    /// Every FIXED and GCRA state in the compact ranges survives the compact form,
    /// whatever its expiry; every other one is refused rather than mangled.
    #[test]
    fn compact_form_is_lossless_or_refused(
        start_ms in 0u64..=U48_MAX,
        span in up_to_and_past(COMPACT_SPAN_MAX),
        count in up_to_and_past(COMPACT_COUNT_MAX),
        tat_ns in proptest::prelude::any::<u64>(),
        ahead_ns in up_to_and_past(COMPACT_PAYLOAD),
    ) {
        let fixed = encode_fixed(start_ms, count);
        let expire = start_ms + span;
        match via_compact(fixed.as_bytes(), expire) {
            Some(state) => proptest::prop_assert_eq!(state, State::Fixed { start_ms, count }),
            None => proptest::prop_assert!(
                span > COMPACT_SPAN_MAX || count > COMPACT_COUNT_MAX
            ),
        }
        let tat_ns = tat_ns % (u64::MAX / 2);
        let expire = (tat_ns + ahead_ns).div_ceil(NS_PER_MS);
        let gcra = encode_gcra(tat_ns);
        match via_compact(gcra.as_bytes(), expire) {
            Some(state) => proptest::prop_assert_eq!(state, State::Gcra { tat_ns }),
            None => proptest::prop_assert!(expire * NS_PER_MS - tat_ns > COMPACT_PAYLOAD),
        }
    }
}

#[test]
fn no_utf8_text_is_state() {
    // Every tag is a continuation byte, which valid UTF-8 never starts with.
    for tag in [TAG_FIXED, TAG_SLIDING, TAG_GCRA, TAG_LOG] {
        assert!(std::str::from_utf8(&[tag]).is_err());
        assert_eq!(tag & 0b1100_0000, 0b1000_0000);
    }
}
