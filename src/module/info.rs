//! `INFO ratelimit`: the module's counters since load.

use std::ffi::CString;

use super::storage::compact_state;
use super::wrap::register::InfoCtx;
use crate::args::Algorithm;
use crate::stats::{self, Command, Snapshot};

fn add_counts(ctx: InfoCtx, prefix: &str, s: Snapshot) {
    for (name, value) in [
        ("calls", s.calls),
        ("allowed", s.allowed),
        ("denied", s.denied),
        ("errors", s.errors),
    ] {
        // Field names are fixed ASCII; INFO is not a hot path, so formatting is fine.
        let field = CString::new(format!("{prefix}_{name}")).expect("no NUL in field names");
        ctx.add_u64(&field, value);
    }
}

/// The section's fields, in order: per command, per algorithm, then how state is
/// stored (for whoever reads memory figures off this server).
pub fn write(ctx: InfoCtx) {
    ctx.add_section();
    for command in Command::ALL {
        add_counts(ctx, command.name(), stats::by_command(command));
    }
    for algorithm in Algorithm::ALL {
        add_counts(ctx, algorithm.name(), stats::by_algorithm(algorithm));
        let (charges, refunds) = stats::charges(algorithm);
        for (name, value) in [("charges", charges), ("refunds", refunds)] {
            let field = CString::new(format!("{}_{name}", algorithm.name()))
                .expect("no NUL in field names");
            ctx.add_u64(&field, value);
        }
    }
    ctx.add_u64(c"compact_state", u64::from(compact_state()));
}
