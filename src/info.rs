//! `INFO ratelimit`: the module's counters since load.

use std::ffi::CString;
use std::os::raw::c_int;

use redis_module::raw;

use crate::args::Algorithm;
use crate::stats::{self, Command, Snapshot};

fn add_counts(ctx: *mut raw::RedisModuleInfoCtx, prefix: &str, s: Snapshot) {
    for (name, value) in [
        ("calls", s.calls),
        ("allowed", s.allowed),
        ("denied", s.denied),
        ("errors", s.errors),
    ] {
        // Field names are fixed ASCII; INFO is not a hot path, so formatting is fine.
        let field = CString::new(format!("{prefix}_{name}")).expect("no NUL in field names");
        // SAFETY: ctx is the INFO callback's context; field is NUL-terminated.
        unsafe { raw::RedisModule_InfoAddFieldULongLong.unwrap()(ctx, field.as_ptr(), value) };
    }
}

/// The INFO callback registered at load time.
pub extern "C" fn info(ctx: *mut raw::RedisModuleInfoCtx, _for_crash_report: c_int) {
    // A panic must not cross into Redis; INFO simply stays short if one happens.
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: ctx is the INFO callback's context; NULL names the module's section.
        unsafe { raw::RedisModule_InfoAddSection.unwrap()(ctx, std::ptr::null()) };
        for command in Command::ALL {
            add_counts(ctx, command.name(), stats::by_command(command));
        }
        for algorithm in Algorithm::ALL {
            let s = stats::by_algorithm(algorithm);
            add_counts(ctx, algorithm.name(), s);
        }
        // How the module was loaded, for whoever reads memory figures off this server.
        let compact = u64::from(crate::command::compact_state());
        // SAFETY: as above; the field name is a static C string.
        unsafe {
            raw::RedisModule_InfoAddFieldULongLong.unwrap()(ctx, c"compact_state".as_ptr(), compact)
        };
    });
}
