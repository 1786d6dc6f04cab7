# Sourced by the shell scripts: their one way to start a redis-server with the module.
#
#   start_server SERVER MODULE [PREFIX ...]
#     starts SERVER on 127.0.0.1, persistence off, in a directory of its own, with
#     MODULE loaded (none when MODULE is empty), under PREFIX (valgrind ...) if given;
#     waits, within 30 s (valgrind is slow), until it answers PING, and fails with its
#     log if it exits first. Sets server_port, server_pid, server_dir. The port is
#     $SERVER_PORT, else a free one; the log goes to $SERVER_LOG, else $server_dir/log;
#     the array server_args, if set, adds options (--loglevel warning).
#   stop_server
#     SHUTDOWN NOSAVE (so that a PREFIX such as valgrind writes its report), waits for
#     the process, removes the directory.

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_server() {
  local server=$1 module=$2
  shift 2
  server_port=${SERVER_PORT:-$(free_port)}
  server_dir=$(mktemp -d)
  local log=${SERVER_LOG:-$server_dir/log}
  local load=()
  [ -n "$module" ] && load=(--loadmodule "$(realpath "$module")")
  "$@" "$server" --port "$server_port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$server_dir" ${server_args[@]+"${server_args[@]}"} "${load[@]}" >"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 300); do
    redis-cli -h 127.0.0.1 -p "$server_port" PING 2>/dev/null | grep -q PONG && return 0
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "$server did not start:" >&2
      [ -f "$log" ] && cat "$log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "$server did not answer within 30 s" >&2
  return 1
}

stop_server() {
  [ -n "${server_pid:-}" ] || return 0
  redis-cli -h 127.0.0.1 -p "$server_port" SHUTDOWN NOSAVE >/dev/null 2>&1 || kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  rm -rf "$server_dir"
  server_pid=
}
