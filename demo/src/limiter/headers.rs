//! The IETF `RateLimit-Policy` and `RateLimit` fields (draft-ietf-httpapi-ratelimit-
//! headers-09 and later) and `Retry-After`, from the module's replies.
//!
//! Each limit of a policy is one list member, named after the policy (with `-1`,
//! `-2`, ... when a policy has several limits): `RateLimit-Policy: "anon";q=10;w=60`
//! announces the quota and window, `RateLimit: "anon";r=7;t=42` what is left and the
//! seconds until the quota is whole again.

use redis_ratelimit::algorithm::Outcome;

/// One limit as the headers show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitView {
    pub name: String,
    pub quota: u64,
    pub window_s: u64,
    pub remaining: u64,
    pub reset_s: u64,
}

/// The member name of limit `index` of a policy with `count` limits.
pub fn member_name(policy: &str, index: usize, count: usize) -> String {
    if count == 1 {
        policy.to_string()
    } else {
        format!("{policy}-{}", index + 1)
    }
}

/// Milliseconds to whole seconds, rounded up: a client that waits this long is not
/// early.
pub fn ceil_s(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

impl LimitView {
    pub fn new(name: String, window_s: u64, outcome: &Outcome) -> LimitView {
        LimitView {
            name,
            quota: outcome.limit,
            window_s,
            remaining: outcome.remaining,
            reset_s: ceil_s(outcome.reset_after_ms),
        }
    }
}

/// `RateLimit-Policy`: `"anon";q=10;w=60`, one member per limit.
pub fn policy_field(limits: &[LimitView]) -> String {
    limits
        .iter()
        .map(|l| format!("\"{}\";q={};w={}", l.name, l.quota, l.window_s))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `RateLimit`: `"anon";r=7;t=42`, one member per limit.
pub fn ratelimit_field(limits: &[LimitView]) -> String {
    limits
        .iter()
        .map(|l| format!("\"{}\";r={};t={}", l.name, l.remaining, l.reset_s))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `Retry-After` in whole seconds (at least 1) for the longest wait among the limits
/// that denied; `None` if one of them can never pass.
pub fn retry_after_s(denying_retry_ms: impl IntoIterator<Item = i64>) -> Option<u64> {
    let mut longest = 0u64;
    for ms in denying_retry_ms {
        longest = longest.max(u64::try_from(ms).ok()?);
    }
    Some(ceil_s(longest).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(limit: u64, remaining: u64, reset_after_ms: u64) -> Outcome {
        Outcome {
            allowed: true,
            limit,
            remaining,
            retry_after_ms: 0,
            reset_after_ms,
        }
    }

    #[test]
    fn one_limit_is_one_member_named_after_the_policy() {
        let views = [LimitView::new(
            member_name("anon", 0, 1),
            60,
            &outcome(10, 7, 41_001),
        )];
        assert_eq!(policy_field(&views), "\"anon\";q=10;w=60");
        assert_eq!(ratelimit_field(&views), "\"anon\";r=7;t=42");
    }

    #[test]
    fn several_limits_are_numbered_members() {
        let views = [
            LimitView::new(member_name("user", 0, 2), 1, &outcome(10, 9, 1000)),
            LimitView::new(
                member_name("user", 1, 2),
                3600,
                &outcome(1000, 999, 3_600_000),
            ),
        ];
        assert_eq!(
            policy_field(&views),
            "\"user-1\";q=10;w=1, \"user-2\";q=1000;w=3600"
        );
        assert_eq!(
            ratelimit_field(&views),
            "\"user-1\";r=9;t=1, \"user-2\";r=999;t=3600"
        );
    }

    #[test]
    fn retry_after_rounds_up_takes_the_longest_wait_and_knows_never() {
        assert_eq!(retry_after_s([1]), Some(1));
        assert_eq!(retry_after_s([1000]), Some(1));
        assert_eq!(retry_after_s([1001, 59_000]), Some(59));
        assert_eq!(retry_after_s([0]), Some(1));
        assert_eq!(retry_after_s([5000, -1]), None);
    }
}
