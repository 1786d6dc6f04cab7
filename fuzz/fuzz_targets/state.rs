//! Arbitrary bytes as a stored value: decoding never panics, and a value that decodes
//! is this module's canonical encoding of what it decoded to.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redis_ratelimit::state::{self, State};

fuzz_target!(|data: &[u8]| {
    let Ok(decoded) = state::decode(data) else {
        return;
    };
    let again: Vec<u8> = match decoded {
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
    assert_eq!(again, data, "decoding accepted a non-canonical value");
});
