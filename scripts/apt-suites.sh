#!/usr/bin/env bash
# Adds the two apt suites the compatibility tests need beside the machine's own:
#   <codename>-backports (deb)  Valkey 8.0 (valkey-tools)
#   sid (deb-src)               the source package of Redis 8.0, built by scripts/redis8.sh
# Both are derived from the machine's own Debian entry (the archive that serves
# <codename>), so no mirror is named here. Binary packages come from sid never: only
# its sources are listed. As root it writes the entry and runs apt-get update;
# otherwise it prints what to write and fails.
set -euo pipefail

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "$codename" ] || { echo "apt-suites: no VERSION_CODENAME in /etc/os-release" >&2; exit 1; }
target=/etc/apt/sources.list.d/redis-ratelimit.sources

# Prints "URI<TAB>SIGNED-BY" of the first deb entry that serves $codename, from the
# deb822 files and the one-line list.
debian_entry() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && [ "$f" != "$target" ] || continue
    awk -v want="$codename" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " want " ") && uris != "") {
          split(uris, u, " "); print u[1] "\t" signed; found = 1; exit
        }
        types = ""; suites = ""; uris = ""; signed = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      tolower($1) == "types:" { $1 = ""; types = substr($0, 2) }
      tolower($1) == "suites:" { $1 = ""; suites = substr($0, 2) }
      tolower($1) == "uris:" { $1 = ""; uris = substr($0, 2) }
      tolower($1) == "signed-by:" { signed = $2 }
      END { if (!found) flush() }
    ' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v want="$codename" '
      $1 == "deb" {
        i = 2; signed = ""
        if ($2 ~ /^\[/) { for (; i <= NF && $i !~ /\]$/; i++) if ($i ~ /signed-by=/) signed = $i; if ($i ~ /signed-by=/) signed = $i; i++ }
        sub(/.*signed-by=/, "", signed); sub(/\]$/, "", signed)
        if ($(i + 1) == want) { print $i "\t" signed; exit }
      }
    ' "$f"
  done
}

if [ -f "$target" ]; then
  exit 0
fi
entry=$(debian_entry | head -n1)
if [ -z "$entry" ]; then
  echo "apt-suites: found no apt entry for Debian $codename to derive $codename-backports and sid from" >&2
  exit 1
fi
uri=${entry%%$'\t'*}
signed=${entry#*$'\t'}
stanza() { # TYPE SUITE
  printf 'Types: %s\nURIs: %s\nSuites: %s\nComponents: main\n' "$1" "$uri" "$2"
  if [ -n "$signed" ]; then printf 'Signed-By: %s\n' "$signed"; fi
}
content="$(stanza deb "$codename-backports")

$(stanza deb-src sid)"

if [ "$(id -u)" -ne 0 ]; then
  echo "The compatibility tests need $codename-backports and sid's sources. As root, write" >&2
  echo "$target with:" >&2
  echo "$content" >&2
  echo "then run: sudo apt-get update" >&2
  exit 1
fi
echo "Adding $codename-backports and sid (sources only) from $uri to apt ($target)" >&2
printf '%s\n' "$content" >"$target"
apt-get update -qq >&2
