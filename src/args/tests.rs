//! Unit tests of `args`.

use super::*;

fn check(line: &str) -> Result<Request<'_>, ArgError> {
    let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    // Leak the vector so the borrowed request can outlive this helper in tests.
    parse_check(Box::leak(args.into_boxed_slice()))
}

#[test]
fn minimal_request_defaults_to_fixed_cost_one_seconds() {
    let r = check("user:1 10 60").unwrap();
    assert_eq!(r.key, b"user:1");
    assert_eq!(
        r.limit,
        Limit {
            limit: 10,
            window_ms: 60_000
        }
    );
    assert_eq!(r.options.algorithm, Algorithm::Fixed);
    assert_eq!(r.options.cost, 1);
    assert_eq!(r.options.burst, None);
}

#[test]
fn options_in_any_order_and_any_case() {
    let r = check("k 5 250 ms cOsT 3 algorithm gcra BURST 7").unwrap();
    assert_eq!(r.limit.window_ms, 250);
    assert_eq!(r.options.cost, 3);
    assert_eq!(r.options.algorithm, Algorithm::Gcra);
    assert_eq!(r.options.burst, Some(7));
    for (name, alg) in [
        ("FIXED", Algorithm::Fixed),
        ("Sliding", Algorithm::Sliding),
        ("gcra", Algorithm::Gcra),
        ("LOG", Algorithm::Log),
    ] {
        let line = format!("k 5 1 ALGORITHM {name}");
        assert_eq!(check(&line).unwrap().options.algorithm, alg);
    }
}

#[test]
fn bounds_are_inclusive() {
    assert_eq!(check("k 1 1").unwrap().limit.limit, 1);
    assert_eq!(check("k 1000000000000 1").unwrap().limit.limit, MAX_LIMIT);
    assert_eq!(
        check("k 1 315576000").unwrap().limit.window_ms,
        MAX_WINDOW_MS
    );
    assert_eq!(check("k 1 1 MS").unwrap().limit.window_ms, 1);
    assert_eq!(
        check("k 1 315576000000 MS").unwrap().limit.window_ms,
        MAX_WINDOW_MS
    );
    assert_eq!(check("k 1 1 COST 0").unwrap().options.cost, 0);
    assert_eq!(
        check("k 1 1 COST 1000000000000").unwrap().options.cost,
        MAX_LIMIT
    );
    assert_eq!(check("k 4096 1 ALGORITHM LOG").unwrap().limit.limit, 4096);
}

#[test]
fn every_bad_argument_is_named() {
    let cases = [
        ("k", ArgError::WrongArity),
        ("k 10", ArgError::WrongArity),
        ("k 0 60", ArgError::Limit),
        ("k -1 60", ArgError::Limit),
        ("k ten 60", ArgError::Limit),
        ("k 1000000000001 60", ArgError::Limit),
        ("k 99999999999999999999999 60", ArgError::Limit),
        ("k 010 60", ArgError::Limit),
        ("k +10 60", ArgError::Limit),
        ("k 10 0", ArgError::Window),
        ("k 10 315576001", ArgError::Window),
        ("k 10 1.5", ArgError::Window),
        ("k 10 0 MS", ArgError::WindowMs),
        ("k 10 315576000001 MS", ArgError::WindowMs),
        ("k 10 60 COST -1", ArgError::Cost),
        ("k 10 60 COST 1000000000001", ArgError::Cost),
        ("k 10 60 COST", ArgError::MissingValue(Keyword::Cost)),
        (
            "k 10 60 ALGORITHM",
            ArgError::MissingValue(Keyword::Algorithm),
        ),
        (
            "k 10 60 ALGORITHM GCRA BURST",
            ArgError::MissingValue(Keyword::Burst),
        ),
        ("k 10 60 ALGORITHM TOKEN", ArgError::UnknownAlgorithm),
        ("k 10 60 BURST 5", ArgError::BurstNeedsGcra),
        (
            "k 10 60 ALGORITHM SLIDING BURST 5",
            ArgError::BurstNeedsGcra,
        ),
        ("k 10 60 ALGORITHM GCRA BURST 0", ArgError::Burst),
        ("k 10 60 EX 5", ArgError::UnknownOption),
        ("k 10 60 MS MS", ArgError::Duplicate(Keyword::Ms)),
        ("k 10 60 COST 1 COST 2", ArgError::Duplicate(Keyword::Cost)),
        (
            "k 10 60 ALGORITHM FIXED ALGORITHM LOG",
            ArgError::Duplicate(Keyword::Algorithm),
        ),
        ("k 4097 60 ALGORITHM LOG", ArgError::LogLimit),
    ];
    for (line, want) in cases {
        assert_eq!(check(line), Err(want), "{line}");
        let msg = want.message().to_str().unwrap();
        assert!(msg.starts_with("ERR "), "{msg}");
    }
}

#[test]
fn messages_name_the_argument() {
    assert!(ArgError::Limit.to_string().contains("limit"));
    assert!(ArgError::Window.to_string().contains("window"));
    assert!(ArgError::Cost.to_string().contains("COST"));
    assert!(ArgError::Burst.to_string().contains("BURST"));
    assert!(ArgError::UnknownAlgorithm.to_string().contains("ALGORITHM"));
    assert!(ArgError::NumLimits.to_string().contains("numlimits"));
}

#[test]
fn keys_are_binary_safe() {
    let key: &[u8] = &[0xff, 0x00, b' ', 0xc3];
    let args: [&[u8]; 3] = [key, b"10", b"60"];
    assert_eq!(parse_check(&args).unwrap().key, key);
    let empty: [&[u8]; 3] = [b"", b"10", b"60"];
    assert_eq!(parse_check(&empty).unwrap().key, b"");
}

#[test]
fn parse_u64_is_strict() {
    assert_eq!(parse_u64(b"0"), Some(0));
    assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
    for bad in [
        &b""[..],
        b"18446744073709551616",
        b"00",
        b" 1",
        b"1 ",
        b"1e3",
        b"-0",
        b"\xff",
    ] {
        assert_eq!(parse_u64(bad), None, "{bad:?}");
    }
}

fn mcheck(line: &str) -> Result<MultiRequest, ArgError> {
    let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    parse_mcheck(Box::leak(args.into_boxed_slice()))
}

#[test]
fn mcheck_parses_triples_then_options() {
    let r = mcheck("2 a 2 60 b 3 3600 COST 1").unwrap();
    assert_eq!(r.limits.len(), 2);
    assert_eq!(r.limits[0].limit, 2);
    assert_eq!(r.limits[1].window_ms, 3_600_000);
    assert_eq!(r.options.cost, 1);
}

#[test]
fn mcheck_numlimits_must_match() {
    assert_eq!(
        mcheck("3 a 2 60 b 3 3600"),
        Err(ArgError::NumLimitsMismatch)
    );
    assert_eq!(
        mcheck("1 a 2 60 b 3 3600"),
        Err(ArgError::NumLimitsMismatch)
    );
    assert_eq!(mcheck("0 a 2 60"), Err(ArgError::NumLimits));
    assert_eq!(mcheck("x a 2 60"), Err(ArgError::NumLimits));
    assert_eq!(mcheck("65 a 2 60"), Err(ArgError::NumLimits));
    assert_eq!(mcheck(""), Err(ArgError::WrongArity));
    assert_eq!(mcheck("1 a 2"), Err(ArgError::WrongArity));
}

#[test]
fn mcheck_refuses_a_key_given_twice() {
    assert_eq!(
        mcheck("3 a 2 60 b 3 3600 a 5 1"),
        Err(ArgError::DuplicateKey)
    );
    assert!(
        mcheck("2 a 2 60 A 3 3600").is_ok(),
        "keys are case-sensitive"
    );
}

#[test]
fn mcheck_key_positions_follow_numlimits() {
    let line: Vec<&[u8]> = "RATELIMIT.MCHECK 2 a 2 60 b 3 3600 MS"
        .split(' ')
        .map(str::as_bytes)
        .collect();
    assert_eq!(mcheck_key_positions(&line).collect::<Vec<_>>(), vec![2, 5]);
    let short: Vec<&[u8]> = "RATELIMIT.MCHECK 3 a 2 60"
        .split(' ')
        .map(str::as_bytes)
        .collect();
    assert_eq!(mcheck_key_positions(&short).count(), 0);
}

fn charge(line: &str) -> Result<Charge<'_>, ArgError> {
    let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    parse_charge(Box::leak(args.into_boxed_slice()))
}

#[test]
fn charge_takes_a_signed_amount_and_the_options_but_cost() {
    let c = charge("k 10 60 -5 ALGORITHM gcra BURST 20 MS").unwrap();
    assert_eq!((c.key, c.amount), (&b"k"[..], -5));
    assert_eq!(c.limit.window_ms, 60);
    assert_eq!(c.options.algorithm, Algorithm::Gcra);
    assert_eq!(c.options.burst, Some(20));
    assert_eq!(charge("k 10 60 1200").unwrap().amount, 1200);
    assert_eq!(charge("k 10 60 0").unwrap().amount, 0);
    assert_eq!(
        charge("k 10 60 -1000000000000").unwrap().amount,
        -1_000_000_000_000
    );
    for (line, want) in [
        ("k 10 60", ArgError::WrongArity),
        ("k 10 60 -0", ArgError::Amount),
        ("k 10 60 +5", ArgError::Amount),
        ("k 10 60 05", ArgError::Amount),
        ("k 10 60 --5", ArgError::Amount),
        ("k 10 60 1.5", ArgError::Amount),
        ("k 10 60 1000000000001", ArgError::Amount),
        ("k 10 60 -1000000000001", ArgError::Amount),
        ("k 10 60 -9223372036854775808", ArgError::Amount),
        ("k 10 60 5 COST 2", ArgError::ChargeCost),
        ("k 10 60 5 COSTS 2", ArgError::UnknownOption),
        ("k 0 60 5", ArgError::Limit),
        ("k 10 60 5 BURST 2", ArgError::BurstNeedsGcra),
    ] {
        assert_eq!(charge(line), Err(want), "{line}");
    }
    assert!(ArgError::Amount.to_string().contains("amount"));
}

#[test]
fn mcheck_costs_give_each_limit_its_own_cost() {
    let r = mcheck("2 {k}:rpm 60 60 {k}:tpm 100000 60 COSTS 1 1200").unwrap();
    assert_eq!(r.costs, Some(vec![1, 1200]));
    let r = mcheck("2 a 1 1 b 1 1 ms costs 0 3 ALGORITHM GCRA").unwrap();
    assert_eq!(r.costs, Some(vec![0, 3]));
    assert_eq!(r.options.algorithm, Algorithm::Gcra);
    assert_eq!(mcheck("2 a 1 1 b 1 1").unwrap().costs, None);
    for (line, want) in [
        (
            "2 a 1 1 b 1 1 COSTS 1",
            ArgError::MissingValue(Keyword::Costs),
        ),
        ("2 a 1 1 b 1 1 COSTS 1 2 3", ArgError::UnknownOption),
        ("2 a 1 1 b 1 1 COSTS 1 x", ArgError::Costs),
        ("2 a 1 1 b 1 1 COSTS 1 -1", ArgError::Costs),
        ("2 a 1 1 b 1 1 COSTS 1 1000000000001", ArgError::Costs),
        ("2 a 1 1 b 1 1 COSTS 1 2 COST 1", ArgError::CostAndCosts),
        ("2 a 1 1 b 1 1 COST 1 COSTS 1 2", ArgError::CostAndCosts),
        (
            "2 a 1 1 b 1 1 COSTS 1 2 COSTS 1 2",
            ArgError::Duplicate(Keyword::Costs),
        ),
    ] {
        assert_eq!(mcheck(line), Err(want), "{line}");
    }
    assert_eq!(check("k 1 1 COSTS 1"), Err(ArgError::UnknownOption));
}

#[test]
fn algorithm_names_read_back_in_any_case() {
    for a in Algorithm::ALL {
        assert_eq!(Algorithm::from_name(a.name()), Some(a));
        assert_eq!(Algorithm::from_name(a.keyword()), Some(a));
        // The keyword is what the command parser reads.
        let line = format!("k 1 1 ALGORITHM {}", a.keyword());
        assert_eq!(check(&line).map(|r| r.options.algorithm), Ok(a));
    }
    assert_eq!(Algorithm::from_name("leaky"), None);
    assert_eq!(Algorithm::Log.max_limit(), MAX_LOG_LIMIT);
    assert_eq!(Algorithm::Gcra.max_limit(), MAX_LIMIT);
}
