//! MCHECK's decision over several keys: never panics, all or nothing.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use redis_ratelimit::algorithm::{decide_all, Now};
use redis_ratelimit::args::{Algorithm, Limit, Options, MAX_LOG_LIMIT, MAX_WINDOW_MS};
use redis_ratelimit::state;

#[derive(Arbitrary, Debug)]
struct Input {
    stored: Vec<Vec<u8>>,
    limits: Vec<(u16, u32)>,
    algorithm: u8,
    cost: u16,
    /// MCHECK's COSTS: one per limit, when given.
    costs: Option<Vec<u32>>,
    now_ns: u64,
}

fuzz_target!(|input: Input| {
    let n = input.limits.len().min(input.stored.len()).min(64);
    let algorithm = Algorithm::ALL[usize::from(input.algorithm) % 4];
    let states: Vec<_> = input.stored[..n]
        .iter()
        .map(|b| state::decode(b).ok())
        .collect();
    let limits: Vec<Limit> = input.limits[..n]
        .iter()
        .map(|&(l, w)| Limit {
            limit: u64::from(l) % MAX_LOG_LIMIT + 1,
            window_ms: u64::from(w) % MAX_WINDOW_MS + 1,
        })
        .collect();
    let options = Options {
        algorithm,
        burst: None,
        cost: u64::from(input.cost),
    };
    let costs: Option<Vec<u64>> = input
        .costs
        .filter(|c| c.len() >= n)
        .map(|c| c[..n].iter().map(|&v| u64::from(v)).collect());
    let now = Now::from_ns(input.now_ns);
    let Ok(joint) = decide_all(&states, &limits, &options, costs.as_deref(), now) else {
        return;
    };
    assert_eq!(joint.outcomes.len(), n);
    assert_eq!(joint.updates.len(), n);
    assert_eq!(joint.allowed, joint.outcomes.iter().all(|o| o.allowed));
    if !joint.allowed {
        assert!(
            joint.updates.iter().all(Option::is_none),
            "nothing written unless all allow"
        );
    }
});
