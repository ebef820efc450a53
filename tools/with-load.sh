#!/usr/bin/env bash
# Runs a command beside N CPU-burning processes and stops them afterwards whatever happens:
#   tools/with-load.sh N command args...        (make test LOAD=N uses it; docs/testing.md)
# The exit status is the command's. The burners are stopped on exit, failure, Ctrl-C and TERM
# (trap); should this script itself be killed with SIGKILL, each burner notices its parent is
# gone and exits within a fraction of a second.
set -uo pipefail
n=${1:?usage: with-load.sh N command args...}
shift
[[ "$n" =~ ^[0-9]+$ ]] || { echo "with-load.sh: LOAD must be a whole number, got '$n'" >&2; exit 2; }
parent=$$
burners=()
stop_burners() {
  [ "${#burners[@]}" -eq 0 ] && return
  kill "${burners[@]}" 2>/dev/null
  wait "${burners[@]}" 2>/dev/null
  echo "load: stopped ${#burners[@]} busy loops" >&2
  burners=()
}
trap stop_burners EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
for ((i = 0; i < n; i++)); do
  # Pure CPU: a tight loop, checking now and then that the script is still there.
  (while kill -0 "$parent" 2>/dev/null; do for ((j = 0; j < 200000; j++)); do :; done; done) &
  burners+=("$!")
done
echo "load: $n busy loops beside: $* (pids ${burners[*]})" >&2
"$@"
