#!/usr/bin/env bash
# Builds Redis 8.0 from Debian's source package `redis` (sid) once, keeps the binaries
# under target/servers/redis-<version>/ and prints the path of its redis-server.
# A second run finds them there and builds nothing.
#
# The version is pinned (REDIS8_VERSION, default below); if sid no longer carries it,
# the newest 8.0.x there is built instead and the script says so. Needs the sid
# deb-src entry that scripts/apt-suites.sh adds, and dpkg-dev (dpkg-source).
set -euo pipefail
cd "$(dirname "$0")/.."

pinned=${REDIS8_VERSION:-8.0.6}
servers=$PWD/target/servers

# The cache first: no apt look-up when the pinned build is there.
if [ -x "$servers/redis-$pinned/redis-server" ]; then
  echo "$servers/redis-$pinned/redis-server"
  exit 0
fi

# Debian versions of the source package, newest first, e.g. "5:8.0.6-3".
versions=$(apt-cache showsrc redis 2>/dev/null | awk '/^Version:/ { print $2 }' | sort -rV)
upstream() { local v=${1#*:}; echo "${v%-*}"; }
debian_version=
for v in $versions; do
  if [ "$(upstream "$v")" = "$pinned" ]; then debian_version=$v; break; fi
done
if [ -z "$debian_version" ]; then
  for v in $versions; do
    case $(upstream "$v") in 8.0.*) debian_version=$v; break ;; esac
  done
  if [ -z "$debian_version" ]; then
    echo "redis8: apt offers no source of Redis 8.0 (found: ${versions:-none}); run scripts/apt-suites.sh" >&2
    exit 1
  fi
  echo "redis8: Redis $pinned is no longer offered; building $(upstream "$debian_version") instead" >&2
fi
version=$(upstream "$debian_version")
dest=$servers/redis-$version
if [ -x "$dest/redis-server" ]; then
  echo "$dest/redis-server"
  exit 0
fi

echo "Building Redis $version from Debian's source package redis $debian_version (about a minute, once)" >&2
work=$servers/build-redis-$version
rm -rf "$work"
mkdir -p "$work"
(
  cd "$work"
  apt-get source -qq --download-only "redis=$debian_version" >&2
  # Unpacked with Debian's patches (security fixes among them). Only the server, for
  # tests: libc's malloc instead of the bundled jemalloc, and -O1 instead of -O3 with
  # link-time optimisation, which build in a fraction of the time; no TLS, no optional
  # modules. (make bench measures Debian's Redis 7.0, never this build.)
  dpkg-source -x ./*.dsc src >/dev/null
  # GIT_DIR: the build stamps a git sha, which would otherwise be this repository's.
  GIT_DIR=/nonexistent make -C src -j"$(nproc)" MALLOC=libc OPTIMIZATION=-O1 redis-server \
    >build.log 2>&1 || { tail -n 40 build.log >&2; exit 1; }
)
mkdir -p "$dest.partial"
cp "$work/src/src/redis-server" "$dest.partial/"
rm -rf "$dest" && mv "$dest.partial" "$dest"
rm -rf "$work"
echo "Built $("$dest/redis-server" --version)" >&2
echo "$dest/redis-server"
