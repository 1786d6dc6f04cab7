#!/usr/bin/env bash
# make build: the module as it is released, target/release/libredis_ratelimit.so. Built
# once, by cargo-zigbuild against glibc 2.17 in the `dist` profile (the release
# profile without debug info), so that it loads on every x86-64 Linux Redis runs on;
# refused if any dynamic symbol needs a newer glibc. The same file goes into the
# archive and the wheel (make dist), and every test suite loads it. Its tools (zig,
# cargo-zigbuild) are installed from the Python package index into target/venvs/dist.
# Prints the module's path.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# Pinned: the glibc 2.17 target and the relative-path workaround below are known to
# work with these.
tools=$(VENV=target/venvs/dist scripts/python.sh 'ziglang==0.17.1' 'cargo-zigbuild==0.24.1')
bin=$(dirname "$tools")

# The machine's own architecture (x86_64 is the one tested).
target=$(uname -m)-unknown-linux-gnu
echo "== the module, for $target with glibc 2.17 (cargo zigbuild --profile dist)" >&2
# zig names its library folder relative to the working directory when it lies below
# it, and bindgen's build script runs elsewhere: build from a folder that is not above
# target/venvs.
mkdir -p target/zigbuild
(cd target/zigbuild && PATH="$bin:$PATH" cargo zigbuild --manifest-path "$root/Cargo.toml" \
  --profile dist --lib --target "$target.2.17" >&2)
built=target/$target/dist/libredis_ratelimit.so
scripts/glibc-check.sh "$built" 2.17 >&2
mkdir -p target/release
# A new file, never written through: cargo's own release build may have left a hard
# link to its artifact at this path.
rm -f target/release/libredis_ratelimit.so
cp "$built" target/release/libredis_ratelimit.so
echo "$root/target/release/libredis_ratelimit.so"
