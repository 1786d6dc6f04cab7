//! The IETF `RateLimit-Policy` and `RateLimit` fields (draft-ietf-httpapi-ratelimit-
//! headers-09 and later) and `Retry-After`, from the module's replies.
//!
//! Each limit of a policy is one list member, named after the policy (with `-1`,
//! `-2`, ... when a policy has several limits): `RateLimit-Policy: "anon";q=10;w=60`
//! announces the quota and window, `RateLimit: "anon";r=7;t=42` what is left and the
//! seconds until the quota is whole again.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use redis_ratelimit::algorithm::Outcome;

use crate::plan::{Plan, Verdict};

/// One limit as the headers show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitView {
    pub quota: u64,
    pub window_s: u64,
    pub remaining: u64,
    pub reset_s: u64,
}

/// Milliseconds to whole seconds, rounded up: a client that waits this long is not
/// early.
pub fn ceil_s(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

impl LimitView {
    pub fn new(window_s: u64, outcome: &Outcome) -> LimitView {
        LimitView {
            quota: outcome.limit,
            window_s,
            remaining: outcome.remaining,
            reset_s: ceil_s(outcome.reset_after_ms),
        }
    }
}

/// Appends `n` in decimal. (The formatting machinery of `write!` costs several times
/// more, and these headers are built on every limited request.)
pub fn push_u64(out: &mut String, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // The bytes are ASCII digits.
    out.push_str(std::str::from_utf8(&digits[i..]).unwrap_or("0"));
}

/// Writes the members `"<name>";<a>=..;<b>=..`, comma-separated, into one string: the
/// name is the policy's, numbered `-1`, `-2`, ... when it has several limits.
fn field(
    policy: &str,
    limits: &[LimitView],
    [a, b]: [&str; 2],
    f: fn(&LimitView) -> (u64, u64),
) -> String {
    let mut out = String::with_capacity(limits.len() * (policy.len() + 32));
    for (i, l) in limits.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('"');
        out.push_str(policy);
        if limits.len() > 1 {
            out.push('-');
            push_u64(&mut out, i as u64 + 1);
        }
        let (x, y) = f(l);
        out.push_str("\";");
        out.push_str(a);
        push_u64(&mut out, x);
        out.push(';');
        out.push_str(b);
        push_u64(&mut out, y);
    }
    out
}

/// `RateLimit-Policy`: `"anon";q=10;w=60`, one member per limit.
pub fn policy_field(policy: &str, limits: &[LimitView]) -> String {
    field(policy, limits, ["q=", "w="], |l| (l.quota, l.window_s))
}

/// `RateLimit`: `"anon";r=7;t=42`, one member per limit.
pub fn ratelimit_field(policy: &str, limits: &[LimitView]) -> String {
    field(policy, limits, ["r=", "t="], |l| (l.remaining, l.reset_s))
}

/// `RateLimit-Policy` and `RateLimit` for a plan's verdict.
pub fn fields(plan: &Plan, verdict: &Verdict) -> HeaderMap {
    let views: Vec<LimitView> = verdict
        .outcomes
        .iter()
        .zip(&plan.limits)
        .map(|(o, &(_, window_s))| LimitView::new(window_s, o))
        .collect();
    let mut fields = HeaderMap::with_capacity(2);
    fields.insert(
        HeaderName::from_static("ratelimit-policy"),
        header(&policy_field(&plan.policy, &views)),
    );
    fields.insert(
        HeaderName::from_static("ratelimit"),
        header(&ratelimit_field(&plan.policy, &views)),
    );
    fields
}

fn header(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Retry-After` in whole seconds (at least 1) for a wait (`Verdict::retry_after_ms`);
/// `None` when the request can never pass (-1).
pub fn retry_after_s(retry_after_ms: i64) -> Option<u64> {
    let ms = u64::try_from(retry_after_ms).ok()?;
    Some(ceil_s(ms).max(1))
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
        let views = [LimitView::new(60, &outcome(10, 7, 41_001))];
        assert_eq!(policy_field("anon", &views), "\"anon\";q=10;w=60");
        assert_eq!(ratelimit_field("anon", &views), "\"anon\";r=7;t=42");
    }

    #[test]
    fn several_limits_are_numbered_members() {
        let views = [
            LimitView::new(1, &outcome(10, 9, 1000)),
            LimitView::new(3600, &outcome(1000, 999, 3_600_000)),
        ];
        assert_eq!(
            policy_field("user", &views),
            "\"user-1\";q=10;w=1, \"user-2\";q=1000;w=3600"
        );
        assert_eq!(
            ratelimit_field("user", &views),
            "\"user-1\";r=9;t=1, \"user-2\";r=999;t=3600"
        );
    }

    #[test]
    fn decimals_are_written_exactly() {
        for n in [0, 7, 10, 99, 1_000_000_000_000, u64::MAX] {
            let mut s = String::from("x");
            push_u64(&mut s, n);
            assert_eq!(s, format!("x{n}"));
        }
    }

    fn denied_by(waits: &[i64]) -> Verdict {
        let mut outcomes: Vec<Outcome> = waits
            .iter()
            .map(|&retry_after_ms| Outcome {
                allowed: false,
                retry_after_ms,
                ..outcome(10, 0, 1000)
            })
            .collect();
        // A limit that allows does not count towards the wait.
        outcomes.push(Outcome {
            retry_after_ms: 99_000,
            ..outcome(10, 5, 1000)
        });
        Verdict {
            allowed: false,
            outcomes,
        }
    }

    #[test]
    fn retry_after_rounds_up_takes_the_longest_wait_and_knows_never() {
        let s = |waits: &[i64]| retry_after_s(denied_by(waits).retry_after_ms());
        assert_eq!(s(&[1]), Some(1));
        assert_eq!(s(&[1000]), Some(1));
        assert_eq!(s(&[1001, 59_000]), Some(59));
        assert_eq!(s(&[0]), Some(1));
        assert_eq!(s(&[5000, -1]), None);
        assert_eq!(denied_by(&[5000, -1]).retry_after_ms(), -1);
        assert_eq!(denied_by(&[1001, 59_000]).retry_after_ms(), 59_000);
    }
}
