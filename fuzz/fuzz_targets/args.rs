//! Arbitrary command lines into every parser: CHECK/PEEK, MCHECK (with COSTS, and its
//! key positions), CHARGE, CL.THROTTLE and the load arguments. None may panic, and whatever they
//! accept must be within the documented bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redis_ratelimit::args::{self, Algorithm, MAX_LIMIT, MAX_LOG_LIMIT, MAX_WINDOW_MS};
use redis_ratelimit::{cell, load_args};

fn check_limit(limit: args::Limit, algorithm: Algorithm) {
    assert!((1..=MAX_LIMIT).contains(&limit.limit));
    assert!((1..=MAX_WINDOW_MS).contains(&limit.window_ms));
    if algorithm == Algorithm::Log {
        assert!(limit.limit <= MAX_LOG_LIMIT);
    }
}

fn check_options(o: &args::Options) {
    assert!(o.cost <= MAX_LIMIT);
    if let Some(b) = o.burst {
        assert!((1..=MAX_LIMIT).contains(&b));
        assert_eq!(o.algorithm, Algorithm::Gcra);
    }
}

fuzz_target!(|data: &[u8]| {
    // The first byte separates the arguments, so any byte (NUL, spaces, non-UTF-8)
    // can appear inside one.
    let Some((&sep, rest)) = data.split_first() else {
        return;
    };
    let argv: Vec<&[u8]> = rest.split(|&b| b == sep).collect();

    if let Ok(r) = args::parse_check(&argv) {
        check_limit(r.limit, r.options.algorithm);
        check_options(&r.options);
        assert_eq!(r.key, argv[0]);
    }
    if let Ok(r) = args::parse_mcheck(&argv) {
        assert!(!r.limits.is_empty() && r.limits.len() <= args::MAX_LIMITS);
        for l in &r.limits {
            check_limit(*l, r.options.algorithm);
        }
        check_options(&r.options);
        if let Some(costs) = &r.costs {
            assert_eq!(costs.len(), r.limits.len());
            assert!(costs.iter().all(|&c| c <= MAX_LIMIT));
        }
    }
    if let Ok(c) = args::parse_charge(&argv) {
        check_limit(c.limit, c.options.algorithm);
        check_options(&c.options);
        assert!(c.amount.unsigned_abs() <= MAX_LIMIT);
        assert_eq!(c.key, argv[0]);
    }
    let mut line = vec![&b"RATELIMIT.MCHECK"[..]];
    line.extend(&argv);
    for pos in args::mcheck_key_positions(&line) {
        assert!(pos >= 2 && pos < line.len());
    }
    if let Ok(t) = cell::parse_throttle(&argv) {
        check_limit(t.request.limit, Algorithm::Gcra);
        check_options(&t.request.options);
        assert!(t.refund.is_none_or(|r| (1..=MAX_LIMIT).contains(&r)));
    }
    let _ = load_args::parse(&argv);
    // Every error has an ERR message.
    if let Err(e) = args::parse_check(&argv) {
        assert!(e.message().to_bytes().starts_with(b"ERR "));
    }
    if let Err(e) = args::parse_charge(&argv) {
        assert!(e.message().to_bytes().starts_with(b"ERR "));
    }
});
