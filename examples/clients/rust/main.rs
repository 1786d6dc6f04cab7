//! Eleven requests against a limit of 10 per 60 seconds, with redis-rs's defaults.
//!
//! ```sh
//! REDIS_URL=redis://127.0.0.1:6379 cargo run --example client [key]
//! ```
//!
//! The reply is five integers in every protocol, so it decodes straight into a tuple.

/// allowed, limit, remaining, retry_after_ms, reset_after_ms
type Decision = (bool, u64, u64, i64, u64);

fn main() -> redis::RedisResult<()> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let key = std::env::args().nth(1).unwrap_or_else(|| "user:42".into());
    let mut con = redis::Client::open(url)?.get_connection()?;
    let info: String = redis::cmd("CLIENT").arg("INFO").query(&mut con)?;
    let resp = info
        .split_whitespace()
        .find_map(|f| f.strip_prefix("resp="))
        .unwrap_or("?");
    println!("redis-rs, RESP{resp}");
    for call in 1..=11 {
        let (allowed, limit, remaining, retry_after_ms, reset_after_ms): Decision =
            redis::cmd("RATELIMIT.CHECK")
                .arg(&key)
                .arg(10)
                .arg(60)
                .query(&mut con)?;
        let verdict = if allowed { "allowed" } else { "denied" };
        println!(
            "{call}: {verdict} limit={limit} remaining={remaining} \
             retry_after_ms={retry_after_ms} reset_after_ms={reset_after_ms}"
        );
    }
    Ok(())
}
