//! Why a command answers an error instead of a decision, and the error it answers.
//!
//! Pure, beside `ArgError::message`: the glue turns any of these into one reply and
//! one count (`Failed::answer` in `module::commands`), so no command body repeats that.

use std::ffi::CStr;

use crate::algorithm::Refusal;
use crate::args::{Algorithm, ArgError};

/// A command that could not decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Bad arguments: refused before any key was touched.
    Arg(ArgError),
    /// The key holds another type, or a string that is not this module's state.
    WrongType,
    /// The key holds the state of another algorithm.
    OtherAlgorithm(Algorithm),
    /// Redis refused to write a value into a key opened for writing, which the module
    /// API does not do for string keys; kept so that the case is never silent.
    WriteFailed,
    /// A panic was caught: the command failed, the server is unaffected.
    Internal,
}

impl From<ArgError> for Failure {
    fn from(e: ArgError) -> Failure {
        Failure::Arg(e)
    }
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Failure {
        match r {
            Refusal::OtherAlgorithm(a) => Failure::OtherAlgorithm(a),
        }
    }
}

impl Failure {
    /// The error reply. (`Arg(WrongArity)` is answered with Redis's own arity error,
    /// which names the command as the client typed it.)
    pub fn message(self) -> &'static CStr {
        match self {
            Failure::Arg(e) => e.message(),
            Failure::WrongType => {
                c"WRONGTYPE Operation against a key holding the wrong kind of value"
            }
            Failure::OtherAlgorithm(Algorithm::Fixed) => {
                c"WRONGTYPE the key holds ALGORITHM FIXED state: use the same ALGORITHM or delete the key"
            }
            Failure::OtherAlgorithm(Algorithm::Sliding) => {
                c"WRONGTYPE the key holds ALGORITHM SLIDING state: use the same ALGORITHM or delete the key"
            }
            Failure::OtherAlgorithm(Algorithm::Gcra) => {
                c"WRONGTYPE the key holds ALGORITHM GCRA state: use the same ALGORITHM or delete the key"
            }
            Failure::OtherAlgorithm(Algorithm::Log) => {
                c"WRONGTYPE the key holds ALGORITHM LOG state: use the same ALGORITHM or delete the key"
            }
            Failure::WriteFailed => c"ERR could not write the rate-limit state",
            Failure::Internal => {
                c"ERR internal error in the ratelimit module; the server is unaffected"
            }
        }
    }

    /// Whether the failure belongs to the request's algorithm too (the arguments were
    /// valid, the key could not be used), or only to the command.
    pub fn counts_against_algorithm(self) -> bool {
        !matches!(self, Failure::Arg(_) | Failure::Internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_is_a_redis_error_that_says_what_went_wrong() {
        let all = [
            Failure::Arg(ArgError::Limit),
            Failure::WrongType,
            Failure::OtherAlgorithm(Algorithm::Fixed),
            Failure::OtherAlgorithm(Algorithm::Sliding),
            Failure::OtherAlgorithm(Algorithm::Gcra),
            Failure::OtherAlgorithm(Algorithm::Log),
            Failure::WriteFailed,
            Failure::Internal,
        ];
        for f in all {
            let m = f.message().to_str().unwrap();
            assert!(m.starts_with("ERR ") || m.starts_with("WRONGTYPE "), "{m}");
        }
        assert!(Failure::OtherAlgorithm(Algorithm::Gcra)
            .message()
            .to_str()
            .unwrap()
            .contains("GCRA"));
        assert!(!Failure::Arg(ArgError::Cost).counts_against_algorithm());
        assert!(!Failure::Internal.counts_against_algorithm());
        assert!(Failure::WrongType.counts_against_algorithm());
        assert_eq!(
            Failure::from(Refusal::OtherAlgorithm(Algorithm::Log)),
            Failure::OtherAlgorithm(Algorithm::Log)
        );
    }
}
