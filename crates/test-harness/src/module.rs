//! Where the module under test is: one answer for every suite of the workspace.

use std::path::PathBuf;

/// The module the tests load: `$RATELIMIT_MODULE` (`make test` sets it), else `make
/// build`'s, the module as released. Panics with the fix when it is not there.
pub fn module_path() -> PathBuf {
    let path = std::env::var_os("RATELIMIT_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/release/libredis_ratelimit.so")
        });
    assert!(
        path.exists(),
        "module not found at {}: run `make build` (or set RATELIMIT_MODULE)",
        path.display()
    );
    path
}
