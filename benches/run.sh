#!/usr/bin/env bash
# benches/run.sh - the ferryd benchmark: ferryd against vsftpd, ProFTPD, pure-ftpd and OpenSSH,
# driven by the same real clients (curl, lftp, OpenSSH sftp, Python ftplib) on loopback.
#
#   benches/run.sh                 # full run (~30-40 min on 2 cores); report on stdout
#   benches/run.sh --quick         # smoke run (small sizes, 1 repetition, ~3 min)
#   benches/run.sh --out FILE      # also write the Markdown report to FILE
#   benches/run.sh --cases bulk,small   # only these (ceilings latency enumeration memory bulk
#                                        # small small8 concurrent idle; profile = perf
#                                        # profiles, opt-in)
#   benches/run.sh --cases object_storage   # alone: the object-storage legs (Garage, rclone),
#                                        # run by benches/object_storage.sh (see its --help)
#   benches/run.sh --no-wait       # full run without waiting for a quiet machine
#   benches/run.sh --no-build      # use the existing target/release/ferryd
#
# Must run as root: the peers bind as root and switch to their test user per session.
# What it does, in order:
#   1. installs the peers and clients with ../shared/peers/install.sh if any is missing, and
#      Debian's python3-asyncssh (the idle-session client);
#   2. builds ferryd (cargo build --release);
#   3. starts the peers that are not running yet (and only stops those again at the end);
#   4. writes a ferryd config on tmpfs ($WORK, default /dev/shm/ferryd-bench) with the
#      peers' test user, password, client key and TLS certificate;
#   5. full mode: waits (at most 40 min) until no rustc runs and the 1-min load is < 0.5 for
#      a minute, because the machine is shared and only a quiet machine gives usable ratios;
#   6. runs bench.py (which starts and stops ferryd itself), then report.py.
# Results (results.jsonl, meta.json, report.md, ferryd.log) go to $WORK/results-<time>.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
PEERS_DIR=${PEERS_DIR:-$(cd "$REPO/../shared/peers" 2>/dev/null && pwd || echo "$REPO/../shared/peers")}
PEERS_ROOT=${PEERS_ROOT:-/opt/peers/root}
WORK=${WORK:-/dev/shm/ferryd-bench}
PY=/usr/bin/python3
# ferryd's ports: outside the peers' 21000-21999
FTPS_PORT=23021 IMPLICIT_PORT=23990 SFTP_PORT=23022 PASSIVE=23100-23199
PEERS="vsftpd-explicit vsftpd-implicit vsftpd-plain proftpd-ftps proftpd-sftp pure-ftpd openssh"

quick=0 out="" cases="" wait=1 build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) out=$(realpath -m "$2"); shift ;;
    --cases) cases=$2; shift ;;
    --profile) cases=${cases:+$cases,}profile ;;
    --no-wait) wait=0 ;;
    --no-build) build=0 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 64 ;;
  esac
  shift
done

say() { echo "[run.sh $(date +%H:%M:%S)] $*" >&2; }

# the object-storage legs start their own servers (Garage, ferryd on S3, rclone) and need no peers
if [ "$cases" = object_storage ]; then
  os_args=()
  [ "$quick" = 1 ] && os_args+=(--quick)
  [ "$wait" = 0 ] && os_args+=(--no-wait)
  [ -n "$out" ] && os_args+=(--out "$out")
  [ "$build" = 1 ] && (cd "$REPO" && cargo build --release --quiet)
  exec "$HERE/object_storage.sh" "${os_args[@]}"
fi
[ "$(id -u)" = 0 ] || { echo "run.sh: must run as root (the peer servers need it)" >&2; exit 77; }

# ------------------------------------------------------------------ 1. prerequisites
need_install=0
for f in "$PEERS_ROOT/usr/sbin/proftpd" "$PEERS_ROOT/usr/sbin/pure-ftpd" /usr/sbin/vsftpd /usr/sbin/sshd; do
  [ -x "$f" ] || need_install=1
done
for c in curl lftp sftp ssh openssl; do command -v "$c" >/dev/null || need_install=1; done
if [ "$need_install" = 1 ]; then
  say "installing the peer servers and clients ($PEERS_DIR/install.sh)"
  "$PEERS_DIR/install.sh"
fi
if ! "$PY" -c 'import asyncssh' 2>/dev/null; then
  say "installing python3-asyncssh (client for the many-idle-sessions case)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-asyncssh >/dev/null
fi

# ------------------------------------------------------------------ 2. build
if [ "$build" = 1 ]; then
  say "building ferryd (cargo build --release; may wait for the shared target dir lock)"
  (cd "$REPO" && cargo build --release --quiet)
fi
FERRYD=$REPO/target/release/ferryd
[ -x "$FERRYD" ] || { echo "run.sh: $FERRYD missing (drop --no-build)" >&2; exit 69; }

# ------------------------------------------------------------------ 3. peers
"$PEERS_DIR/peers.sh" setup >/dev/null
started=()
cleanup() {
  local name
  for name in "${started[@]}"; do "$PEERS_DIR/peers.sh" stop "$name" >/dev/null || true; done
}
trap cleanup EXIT
status=$("$PEERS_DIR/peers.sh" status)
for name in $PEERS; do
  if ! grep -q "^$name: running" <<<"$status"; then
    "$PEERS_DIR/peers.sh" start "$name" >/dev/null
    started+=("$name")
  fi
done
say "peers running (started here: ${started[*]:-none})"
# shellcheck disable=SC1091
. "${RUN_DIR:-/dev/shm/peerbench/run}/peers.env"

# ------------------------------------------------------------------ 4. ferryd config
for port in $FTPS_PORT $IMPLICIT_PORT $SFTP_PORT; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "run.sh: port $port is in use; is another ferryd running? (stop it first)" >&2; exit 69
  fi
done
mkdir -p "$WORK/state" "$WORK/data"
PEER_TLS=$(dirname "$(dirname "$BENCH_VSFTPD_FTPS_PID_FILE")")/tls
cat > "$WORK/ferryd.toml" <<EOF
# generated by benches/run.sh: ferryd as benchmarked (defaults except what is noted)
[server]
data_dir = "$WORK/data"
state_dir = "$WORK/state"
# the concurrency and idle-session cases open up to 10,000 connections from 127.0.0.1
max_connections = 30000
max_connections_per_ip = 30000
shutdown_grace_secs = 5

[ftps]
listen = "127.0.0.1:$FTPS_PORT"
implicit_listen = "127.0.0.1:$IMPLICIT_PORT"
passive_ports = "$PASSIVE"
# the peers' certificate (RSA 2048): every server pays for the same handshake
cert = "$PEER_TLS/server.crt"
key = "$PEER_TLS/server.key"

[sftp]
listen = "127.0.0.1:$SFTP_PORT"

[log]
level = "info"

[defender]
# a benchmark client must never get its own address banned halfway through
allow_list = ["127.0.0.0/8"]
EOF
rm -f "$WORK/state/users.toml"
printf '%s' "$BENCH_PASS" | "$FERRYD" --config "$WORK/ferryd.toml" user add "$BENCH_USER" --password-stdin >/dev/null
"$FERRYD" --config "$WORK/ferryd.toml" user key add "$BENCH_USER" "$(cat "$BENCH_SSH_KEY.pub")" >/dev/null
"$FERRYD" --config "$WORK/ferryd.toml" check-config >/dev/null

# the raw-TLS ceiling tool, in C where a compiler and OpenSSL headers exist (bench.py falls
# back to the slower Python version otherwise)
if command -v cc >/dev/null && [ -e /usr/include/openssl/ssl.h ]; then
  cc -O2 -o "$WORK/tls_stream" "$HERE/tls_stream.c" -lssl -lcrypto || rm -f "$WORK/tls_stream"
fi

# 10,000 sessions need 10,000+ descriptors in ferryd and in the client: 65536 as in
# config/ferryd.service where root may raise the hard limit, else the hard limit
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# ------------------------------------------------------------------ 5. a quiet machine
if [ "$quick" = 0 ] && [ "$wait" = 1 ]; then
  say "waiting for a quiet machine (no rustc, 1-min load < 0.5 for a minute; at most 40 min)"
  good=0 deadline=$(( $(date +%s) + 2400 ))
  while [ "$good" -lt 3 ]; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    if [ "$(pgrep -c -x rustc || true)" = 0 ] && awk -v l="$load" 'BEGIN { exit !(l < 0.5) }'; then
      good=$((good + 1))
    else
      good=0
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      say "machine still busy after 40 min (load $load); running anyway (the report shows the load)"
      break
    fi
    [ "$good" -ge 3 ] || sleep 30
  done
fi

# ------------------------------------------------------------------ 6. run
results="$WORK/results-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$results"
args=(--out "$results" --work "$WORK" --ferryd-bin "$FERRYD" --ferryd-config "$WORK/ferryd.toml"
      --ferryd-home "$WORK/data/$BENCH_USER" --ferryd-ftps-port "$FTPS_PORT"
      --ferryd-implicit-port "$IMPLICIT_PORT" --ferryd-sftp-port "$SFTP_PORT")
[ "$quick" = 1 ] && args+=(--quick)
[ -n "$cases" ] && args+=(--cases "$cases")
say "running bench.py; results in $results"
"$PY" "$HERE/bench.py" "${args[@]}"
"$PY" "$HERE/report.py" "$results" -o "$results/report.md"
[ -n "$out" ] && cp "$results/report.md" "$out" && say "report written to $out"
cat "$results/report.md"
