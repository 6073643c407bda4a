#!/usr/bin/env bash
# supervise NAME COMMAND...: run COMMAND; whenever it ends, say so on stderr and start it again, so one process
# that dies (out of memory, killed) is back within seconds and takes nothing else down. A command that ends
# within MIN_UP seconds of its start waits longer each time (2, 4, 8 ... up to 60 s) before the next start.
# SIGTERM or SIGINT to the supervisor stops the command (SIGTERM, then waits for it) and the supervisor.
#
# Sourced by scripts/run.sh; run as a script it supervises its arguments: scripts/supervise.sh NAME CMD...
supervise() {
  local name=$1
  shift
  local child="" pause=2 started rc
  set +e # a command's failure is what this loop handles (run.sh runs with -e)
  trap 'if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; fi; exit 0' TERM INT
  while true; do
    started=$SECONDS
    "$@" &
    child=$!
    wait "$child"
    rc=$?
    child=""
    if [ $((SECONDS - started)) -ge "${MIN_UP:-10}" ]; then pause=2; fi
    echo "supervise: $name ended (status $rc); starting it again in ${pause} s" >&2
    sleep "$pause" &
    child=$!
    wait "$child"
    child=""
    pause=$((pause * 2 > 60 ? 60 : pause * 2))
  done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  supervise "$@"
fi
