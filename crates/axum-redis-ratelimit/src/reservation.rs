//! What a handler settles once it knows what its request cost: the layer counts one
//! unit on each limit of the request's policy, and puts this in the request's
//! extensions so that the handler can count the rest (the tokens an answer used, the
//! bytes a download sent) or give back what was not used.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use redis_ratelimit::algorithm::Outcome;

use crate::error::RateLimitError;
use crate::limiter::RateLimiter;
use crate::plan::Plan;

/// The request's share of its policy's limits, counted when the layer let it through
/// (one unit on each limit). Take it from the request:
/// `Extension(reservation): Extension<Reservation>`.
#[derive(Clone)]
pub struct Reservation {
    inner: Arc<Inner>,
}

struct Inner {
    limiter: Arc<RateLimiter>,
    plan: Plan,
    settled: AtomicBool,
}

impl Reservation {
    pub(crate) fn new(limiter: Arc<RateLimiter>, plan: Plan) -> Reservation {
        Reservation {
            inner: Arc::new(Inner {
                limiter,
                plan,
                settled: AtomicBool::new(false),
            }),
        }
    }

    /// The policy's limits, in order: (limit, window in seconds).
    pub fn limits(&self) -> &[(u64, u64)] {
        &self.inner.plan.limits
    }

    /// Counts what the request actually cost instead of the one unit the layer
    /// counted: one value for every limit, or one per limit. What went over is counted
    /// whatever the state (past a limit the client is in debt, which its next requests
    /// wait out); what was not used is given back. Settles once: later calls change
    /// nothing and answer no outcome. Answers each changed limit's state after it.
    pub async fn settle(&self, actual: &[u64]) -> Result<Vec<Outcome>, RateLimitError> {
        if self.inner.settled.swap(true, Ordering::Relaxed) {
            return Ok(Vec::new());
        }
        let amounts: Vec<i64> = actual
            .iter()
            .map(|&a| i64::try_from(a).unwrap_or(i64::MAX).saturating_sub(1))
            .collect();
        let inner = &self.inner;
        inner.limiter.charge_plan(&inner.plan, &amounts).await
    }
}
