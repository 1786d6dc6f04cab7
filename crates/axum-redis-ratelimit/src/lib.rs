#![doc = include_str!("../README.md")]

mod backend;
mod circuit;
pub mod config;
mod deny_cache;
mod error;
mod expiring_map;
mod forms;
mod headers;
mod identity;
mod key;
mod layer;
mod limiter;
pub mod load;
mod local;
mod log_throttle;
mod plan;
mod reservation;

pub use config::Config;
pub use error::{Denial, RateLimitError};
pub use forms::Form;
pub use key::{ApiKeyOrPeerIp, KeyExtractor, PeerIp, Subject, API_KEY};
pub use layer::{RateLimitLayer, RateLimitService};
pub use limiter::{RateLimiter, Source};
pub use redis_ratelimit::algorithm::Outcome;
pub use redis_ratelimit::args::Algorithm;
pub use reservation::Reservation;
