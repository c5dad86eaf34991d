#!/usr/bin/env bash
# Stop what start-etcd.sh and start-apiserver.sh started under $KAPI (by their pid files).
# kube-apiserver's graceful stop waits ~60 s for its long watches: it gets SIGKILL instead.
: "${KAPI:?set KAPI to a work folder}"
for p in apiserver etcd; do
  f=$KAPI/run/$p.pid
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  kill -9 "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$f"
done
