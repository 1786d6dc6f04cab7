//! Where the module under test is: one answer for every suite of the workspace.

use std::path::PathBuf;

/// The module the tests load: `$RATELIMIT_MODULE` (what `make test` sets: the release's
/// module that `make dist` builds), else that module when it exists, else `make
/// build`'s. Panics with the fix when none of them is there.
pub fn module_path() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = std::env::var_os("RATELIMIT_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let dist = root.join("target/x86_64-unknown-linux-gnu/dist/libredis_ratelimit.so");
            if dist.exists() {
                dist
            } else {
                root.join("target/release/libredis_ratelimit.so")
            }
        });
    assert!(
        path.exists(),
        "module not found at {}: run `make dist` or `make build` (or set RATELIMIT_MODULE)",
        path.display()
    );
    path
}
