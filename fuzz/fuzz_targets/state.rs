//! Arbitrary bytes as a stored value, with or without a key expiry: decoding never
//! panics, and a value that decodes is this module's canonical encoding of what it
//! decoded to, in the form it was read in (binary, or compact relative to the expiry).
#![no_main]

use libfuzzer_sys::fuzz_target;
use redis_ratelimit::state::{self, State};

fuzz_target!(|input: (Option<u64>, &[u8])| {
    let (expiry, data) = input;
    let Ok(decoded) = state::decode_with(data, || expiry) else {
        return;
    };
    let binary: Vec<u8> = match decoded {
        State::Fixed { start_ms, count } => {
            state::encode_fixed(start_ms, count).as_bytes().to_vec()
        }
        State::Sliding {
            start_ms,
            prev,
            cur,
        } => state::encode_sliding(start_ms, prev, cur)
            .as_bytes()
            .to_vec(),
        State::Gcra { tat_ns } => state::encode_gcra(tat_ns).as_bytes().to_vec(),
        State::Log(entries) => {
            let mut out = vec![0; state::log_len(entries.len())];
            // Re-encode the same entries: no new one (0 added).
            state::encode_log_into(&mut out, entries.iter(), 0, 0);
            out
        }
    };
    let again = if data.first() == Some(&b'-') {
        // A compact value decodes only with an expiry, and re-encodes against it.
        let expiry = expiry.expect("a compact value decoded without an expiry");
        state::compact(&binary, expiry)
            .expect("a decoded compact state has a compact form")
            .to_string()
            .into_bytes()
    } else {
        binary
    };
    assert_eq!(again, data, "decoding accepted a non-canonical value");
});
