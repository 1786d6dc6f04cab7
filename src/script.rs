//! The script library, `lua/ratelimit.lua`: the module's commands written in Lua for
//! servers that cannot load the module (managed services run Lua but refuse
//! `MODULE LOAD`). One source, used two ways: `FUNCTION LOAD` as the library
//! `ratelimit` (Redis 7.0+, Valkey), or `EVAL`/`EVALSHA` without its first line (any
//! server with scripting, Redis 6.2 too).
//!
//! It decides as the module does, on the module's state layout, so clients may move
//! between the two without losing a count; `tests/integration/script_oracle.rs` holds
//! the two against each other call for call. This file only carries the source, for
//! the clients that load it (the axum crate embeds it from here).

/// The Lua source, as `FUNCTION LOAD` takes it.
pub const SOURCE: &str = include_str!("../lua/ratelimit.lua");

/// The function library's name.
pub const LIBRARY: &str = "ratelimit";

/// The source as `EVAL` takes it: without the `#!lua name=ratelimit` line, which only
/// `FUNCTION LOAD` reads.
pub fn eval_source() -> &'static str {
    SOURCE.split_once('\n').map_or(SOURCE, |(_, rest)| rest)
}

/// The library's version (`FCALL_RO ratelimit_version 0`), the crate's own.
pub fn version() -> &'static str {
    lua_constant("VERSION")
        .and_then(|v| v.strip_prefix('\'')?.strip_suffix('\''))
        .expect("lua/ratelimit.lua declares its VERSION")
}

/// The value of `local NAME = value` at the top level of the source.
fn lua_constant(name: &str) -> Option<&'static str> {
    let prefix = format!("local {name} = ");
    SOURCE
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{self, ArgError, Keyword};
    use crate::failure::Failure;

    #[test]
    fn one_version_for_the_crate_and_the_library() {
        assert_eq!(version(), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn the_two_forms_of_the_source() {
        assert_eq!(SOURCE.lines().next(), Some("#!lua name=ratelimit"));
        assert!(!eval_source().starts_with("#!"));
        assert_eq!(
            SOURCE.len(),
            eval_source().len() + "#!lua name=ratelimit\n".len()
        );
    }

    #[test]
    fn the_bounds_are_the_modules() {
        let number = |name| lua_constant(name).and_then(|v| v.parse::<u64>().ok());
        assert_eq!(number("MAX_LIMIT"), Some(args::MAX_LIMIT));
        assert_eq!(number("MAX_WINDOW_MS"), Some(args::MAX_WINDOW_MS));
        assert_eq!(number("MAX_LOG_LIMIT"), Some(args::MAX_LOG_LIMIT));
        assert_eq!(number("MAX_LIMITS"), Some(args::MAX_LIMITS as u64));
        assert_eq!(number("U48_MAX"), Some(crate::state::U48_MAX));
    }

    /// Every refusal the library shares with the module has the module's text in the
    /// source (the integration tests compare the replies themselves).
    #[test]
    fn the_error_texts_are_the_modules() {
        let fixed = [
            ArgError::Limit,
            ArgError::Window,
            ArgError::WindowMs,
            ArgError::Cost,
            ArgError::Burst,
            ArgError::BurstNeedsGcra,
            ArgError::LogLimit,
            ArgError::UnknownAlgorithm,
            ArgError::UnknownOption,
            ArgError::NumLimits,
            ArgError::NumLimitsMismatch,
            ArgError::DuplicateKey,
            ArgError::Amount,
            ArgError::ChargeCost,
            ArgError::Costs,
            ArgError::CostAndCosts,
            ArgError::MissingValue(Keyword::Costs),
        ];
        for e in fixed {
            let text = e.message().to_str().unwrap();
            assert!(SOURCE.contains(&format!("'{text}'")), "{text}");
        }
        for f in [Failure::WrongType, Failure::WriteFailed] {
            let text = f.message().to_str().unwrap();
            assert!(SOURCE.contains(&format!("'{text}'")), "{text}");
        }
        // Built from a keyword or an algorithm's name: the pieces are there.
        for kw in [Keyword::Algorithm, Keyword::Burst, Keyword::Cost] {
            let text = ArgError::MissingValue(kw).message().to_str().unwrap();
            assert!(text.ends_with(" needs a value"), "{text}");
        }
        assert!(SOURCE.contains("' needs a value'"));
        assert!(SOURCE.contains("'ERR MS takes no value'"));
        assert!(SOURCE.contains("' given more than once'"));
        assert!(SOURCE.contains("' state: use the same ALGORITHM or delete the key'"));
    }
}
