#!/usr/bin/env bash
# End-to-end scale-out test (issue 16, docs/scale-out.md): two ferryd nodes behind HAProxy, on
# one Garage S3 store, with real clients.
#
#   tests/scale-out/run.sh
#
# Installs what is missing (haproxy from apt, Garage 2.5.0 with cargo install), starts Garage
# (single node), ferryd nodes A on 127.0.0.2 and B on 127.0.0.3 and HAProxy on 127.0.0.1
# (connecting to the nodes from 127.0.0.9 with a PROXY v2 header), then, with every client
# bound to 127.0.0.5:
#   - curl explicit FTPS, curl implicit FTPS and OpenSSH sftp upload and download 64 MiB;
#   - lftp mirrors a tree of 200 files up, lists it and mirrors it back down;
#   - a file uploaded through node A is listed and downloaded through node B;
#   - both nodes present the same host keys and certificate, and log 127.0.0.5 as the client;
#   - kill -9 of the node carrying a 256 MiB upload leaves the older object of that name
#     untouched, and the retry through HAProxy completes on the other node.
#
# Environment:
#   FERRYD_BIN       the ferryd binary (default: `cargo build --release --locked`, then
#                    target/release/ferryd)
#   SCALE_OUT_SANDBOX  "true" (default) or "false": [sandbox] enabled on the nodes
#   SCALE_OUT_KEEP   non-empty: keep the work directory after a successful run
#
# Everything lives in a fresh `mktemp -d` directory; every process the script starts is
# stopped by its PID on exit. A failure prints what failed and the tail of the logs, keeps
# the work directory and exits 1.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ferryd-scale-out.XXXXXX")
PIDS=()
LOGS=()
STEP="setup"
PASSED=()
STARTED=$SECONDS

CLIENT_IP=127.0.0.5
PROXY_IP=127.0.0.9
NODE_A_IP=127.0.0.2
NODE_B_IP=127.0.0.3
BUCKET=ferryd
USER_NAME=alice
SANDBOX=${SCALE_OUT_SANDBOX:-true}

say() { printf '== %s\n' "$*"; }
step() {
    STEP=$1
    say "$1"
}
pass() {
    PASSED+=("$1")
    printf '   ok: %s\n' "$1"
}
fail() {
    printf '\nFAILED in step "%s": %s\n' "$STEP" "$*" >&2
    exit 1
}

stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for _ in $(seq 50); do
        local alive=0
        for pid in "${PIDS[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        ((alive)) || break
        sleep 0.1
    done
    for pid in "${PIDS[@]}"; do
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}

on_exit() {
    local rc=$?
    trap - EXIT
    stop_all
    if ((rc != 0)); then
        local log
        for log in "${LOGS[@]}"; do
            [[ -s $log ]] || continue
            printf '\n---- last 30 lines of %s\n' "$log" >&2
            tail -n 30 "$log" | sed 's/\x1b\[[0-9;]*m//g' >&2
        done
        printf '\nscale-out test FAILED after %ss; work directory kept: %s\n' \
            "$((SECONDS - STARTED))" "$WORK" >&2
    elif [[ -n ${SCALE_OUT_KEEP:-} ]]; then
        printf 'work directory kept: %s\n' "$WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

sha() { sha256sum "$1" | cut -d' ' -f1; }

same_file() { # what, expected file, actual file
    [[ -f $3 ]] || fail "$1: $3 was not written"
    local want got
    want=$(sha "$2")
    got=$(sha "$3")
    [[ $want == "$got" ]] || fail "$1: sha256 differs (sent $want, got back $got)"
}

# ---------------------------------------------------------------------------------------------
step "tools"

need() { # command, how to get it
    command -v "$1" >/dev/null 2>&1 || fail "$1 is missing: $2"
}
for tool in curl lftp sftp ssh-keygen ssh-keyscan; do
    need "$tool" "apt-get install curl lftp openssh-client"
done
for tool in python3 openssl sha256sum timeout; do
    need "$tool" "install python3, openssl and coreutils"
done

if ! command -v haproxy >/dev/null 2>&1; then
    if [[ $(id -u) -ne 0 ]]; then
        fail "haproxy is missing: sudo apt-get install haproxy"
    fi
    say "installing haproxy with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends haproxy >/dev/null
fi
need haproxy "apt-get install haproxy"

export PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"
if ! command -v garage >/dev/null 2>&1; then
    say "installing Garage 2.5.0 with cargo install (takes several minutes, once)"
    cargo install garage --version 2.5.0 --locked --no-default-features \
        --features bundled-libs,sqlite,lmdb
fi
need garage "cargo install garage --version 2.5.0 --locked --no-default-features --features bundled-libs,sqlite,lmdb"

if [[ -z ${FERRYD_BIN:-} ]]; then
    say "building ferryd (cargo build --release --locked)"
    (cd "$REPO" && cargo build --release --locked --quiet)
    FERRYD_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/ferryd"
fi
[[ -x $FERRYD_BIN ]] || fail "FERRYD_BIN=$FERRYD_BIN is not an executable"
printf '   %s\n   %s\n   %s\n' "$("$FERRYD_BIN" --version)" \
    "$(haproxy -v | head -n 1)" "$(garage --version 2>/dev/null | head -n 1 || true)"

# ---------------------------------------------------------------------------------------------
step "ports"

# Ten single ports and two ranges of 20 consecutive ports, all free on every address (bound on
# 0.0.0.0), below the usual ephemeral range so clients' source ports do not collide with them.
eval "$(python3 - <<'EOF'
import random, socket

def free(port):
    s = socket.socket()
    try:
        s.bind(("0.0.0.0", port))
        return True
    except OSError:
        return False
    finally:
        s.close()

names = ["P_S3", "P_RPC", "P_NODE_FTPS", "P_NODE_FTPS_IMPLICIT", "P_NODE_SFTP",
         "P_FTPS", "P_FTPS_IMPLICIT", "P_SFTP", "P_FTPS_A", "P_SFTP_A", "P_FTPS_B", "P_SFTP_B"]
port = random.randrange(20000, 28000)
taken = []
ranges = []
while len(ranges) < 2:
    if all(free(p) for p in range(port, port + 20)):
        ranges.append(port)
        port += 20
    else:
        port += 1
while len(taken) < len(names):
    if free(port):
        taken.append(port)
    port += 1
for name, p in zip(names, taken):
    print(f"{name}={p}")
print(f"PASSIVE_A={ranges[0]}-{ranges[0] + 19}")
print(f"PASSIVE_B={ranges[1]}-{ranges[1] + 19}")
EOF
)"
echo "   HAProxy 127.0.0.1: FTPS $P_FTPS, implicit FTPS $P_FTPS_IMPLICIT, SFTP $P_SFTP;" \
    "node A only: FTPS $P_FTPS_A, SFTP $P_SFTP_A; node B only: FTPS $P_FTPS_B, SFTP $P_SFTP_B"
echo "   nodes: FTPS $P_NODE_FTPS, implicit FTPS $P_NODE_FTPS_IMPLICIT, SFTP $P_NODE_SFTP;" \
    "passive A $PASSIVE_A, B $PASSIVE_B; Garage S3 $P_S3"

# ---------------------------------------------------------------------------------------------
step "Garage"

S3_KEY_ID="GK$(openssl rand -hex 12)"
S3_SECRET=$(openssl rand -hex 32)
S3_URL="http://127.0.0.1:$P_S3"
mkdir -p "$WORK/garage"
cat >"$WORK/garage/garage.toml" <<EOF
metadata_dir = "$WORK/garage/meta"
data_dir = "$WORK/garage/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$P_RPC"
rpc_public_addr = "127.0.0.1:$P_RPC"
rpc_secret = "$(openssl rand -hex 32)"

[s3_api]
api_bind_addr = "127.0.0.1:$P_S3"
s3_region = "garage"
root_domain = ".s3.garage.localhost"
EOF
chmod 600 "$WORK/garage/garage.toml"
LOGS+=("$WORK/garage/garage.log")
GARAGE_DEFAULT_ACCESS_KEY=$S3_KEY_ID GARAGE_DEFAULT_SECRET_KEY=$S3_SECRET \
    GARAGE_DEFAULT_BUCKET=$BUCKET RUST_LOG=garage=info,garage_util::background=warn \
    garage -c "$WORK/garage/garage.toml" server --single-node --default-bucket \
    >"$WORK/garage/garage.log" 2>&1 &
GARAGE_PID=$!
PIDS+=("$GARAGE_PID")

# Signed S3 requests straight to Garage (curl's SigV4), for what the test checks behind
# ferryd's back: which objects and multipart uploads exist.
s3() { # curl arguments; the URL path starts after the endpoint
    local path=$1
    shift
    # Garage requires x-amz-content-sha256, which curl before 8.x does not send by itself.
    curl -sS --max-time 20 --aws-sigv4 "aws:amz:garage:s3" --user "$S3_KEY_ID:$S3_SECRET" \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@" "$S3_URL$path"
}

for i in $(seq 120); do
    kill -0 "$GARAGE_PID" 2>/dev/null || fail "garage exited at start"
    code=$(s3 "/$BUCKET?list-type=2" -o /dev/null -w '%{http_code}' 2>/dev/null || true)
    [[ $code == 200 ]] && break
    ((i < 120)) || fail "Garage's S3 API did not list bucket $BUCKET within 60 s (last HTTP $code)"
    sleep 0.5
done
pass "Garage serves bucket $BUCKET on $S3_URL (key $S3_KEY_ID from GARAGE_DEFAULT_*)"

# The rule docs/scale-out.md recommends: parts of uploads a killed node never completed or
# aborted are removed a day after they started.
LIFECYCLE='<LifecycleConfiguration><Rule><ID>abort-incomplete-uploads</ID><Status>Enabled</Status><Filter><Prefix></Prefix></Filter><AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule></LifecycleConfiguration>'
code=$(s3 "/$BUCKET?lifecycle=" -X PUT -H 'Content-Type: application/xml' \
    --data-binary "$LIFECYCLE" -o "$WORK/garage/lifecycle.out" -w '%{http_code}')
[[ $code == 200 ]] ||
    fail "PutBucketLifecycleConfiguration answered HTTP $code: $(cat "$WORK/garage/lifecycle.out")"
s3 "/$BUCKET?lifecycle=" | grep -q '<DaysAfterInitiation>1</DaysAfterInitiation>' ||
    fail "the bucket's lifecycle rule does not read back"
pass "bucket lifecycle rule AbortIncompleteMultipartUpload after 1 day set and read back"

# ---------------------------------------------------------------------------------------------
step "ferryd nodes"

# Shared by file: the TLS certificate and the SSH host keys, made once by `ferryd init`.
"$FERRYD_BIN" init --dir "$WORK/shared" --name 127.0.0.1 >"$WORK/shared-init.log" 2>&1 ||
    fail "ferryd init failed: $(cat "$WORK/shared-init.log")"
SHARED="$WORK/shared/state"

mkdir -p "$WORK/client"
ssh-keygen -q -t ed25519 -N '' -C scale-out -f "$WORK/client/id_ed25519"
PASSWORD=$(openssl rand -hex 16)

write_node_config() { # name, IP, passive range, credentials_file
    local dir="$WORK/node-$1"
    mkdir -p "$dir"
    mkdir -m 750 "$dir/state" "$dir/data"
    cat >"$dir/ferryd.toml" <<EOF
# ferryd node $1 of the scale-out test (tests/scale-out/run.sh).
[server]
data_dir = "$dir/data"
state_dir = "$dir/state"
shutdown_grace_secs = 2

[ftps]
listen = "$2:$P_NODE_FTPS"
implicit_listen = "$2:$P_NODE_FTPS_IMPLICIT"
passive_ports = "$3"
passive_address = "127.0.0.1"
cert = "$SHARED/ftps-cert.pem"
key = "$SHARED/ftps-key.pem"

[sftp]
listen = "$2:$P_NODE_SFTP"
host_keys = ["$SHARED/ssh_host_ed25519_key", "$SHARED/ssh_host_ecdsa_key"]

[auth]
users_file = "users.toml"

[log]
level = "info"
transfer_log = "$dir/xferlog"

[defender]
# HAProxy's health checks arrive as the proxy itself (a PROXY v2 LOCAL header) and never
# log in: the balancer's own address must never be banned.
allow_list = ["$PROXY_IP/32"]

[proxy_protocol]
trusted_networks = ["$PROXY_IP/32"]
ftps = true
ftps_implicit = true
sftp = true
ftps_data = true

[s3]
endpoint = "$S3_URL"
region = "garage"
bucket = "$BUCKET"
path_style = true
credentials_file = "$4"
profile = "default"
request_timeout_secs = 30
connect_timeout_secs = 5
max_retries = 3

[sandbox]
enabled = $SANDBOX
EOF
}

# Node A takes the S3 credentials from its environment, node B from a credentials file.
write_node_config a "$NODE_A_IP" "$PASSIVE_A" ""
write_node_config b "$NODE_B_IP" "$PASSIVE_B" "s3-credentials"
(
    umask 077
    printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
        "$S3_KEY_ID" "$S3_SECRET" >"$WORK/node-b/state/s3-credentials"
)

# One users file, made on node A and copied to node B as config management would.
printf '%s\n' "$PASSWORD" | "$FERRYD_BIN" --config "$WORK/node-a/ferryd.toml" user add \
    "$USER_NAME" --storage s3 --password-stdin --key "$(cat "$WORK/client/id_ed25519.pub")" \
    >"$WORK/user-add.log" 2>&1 || fail "ferryd user add failed: $(cat "$WORK/user-add.log")"
cp -p "$WORK/node-a/state/users.toml" "$WORK/node-b/state/users.toml"

# Node A reads its S3 keys from the environment, node B from its credentials file.
for node in a b; do
    env AWS_ACCESS_KEY_ID="$S3_KEY_ID" AWS_SECRET_ACCESS_KEY="$S3_SECRET" \
        "$FERRYD_BIN" --config "$WORK/node-$node/ferryd.toml" check-config \
        >"$WORK/check-config-$node.log" 2>&1 ||
        fail "check-config of node $node: $(cat "$WORK/check-config-$node.log")"
done

LOG_A="$WORK/node-a/ferryd.log"
LOG_B="$WORK/node-b/ferryd.log"
LOGS+=("$LOG_A" "$LOG_B")
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
    AWS_ACCESS_KEY_ID="$S3_KEY_ID" AWS_SECRET_ACCESS_KEY="$S3_SECRET" \
    "$FERRYD_BIN" --config "$WORK/node-a/ferryd.toml" serve >"$LOG_A" 2>&1 &
PID_A=$!
PIDS+=("$PID_A")
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
    "$FERRYD_BIN" --config "$WORK/node-b/ferryd.toml" serve >"$LOG_B" 2>&1 &
PID_B=$!
PIDS+=("$PID_B")

# ---------------------------------------------------------------------------------------------
step "HAProxy"

HAPROXY_CFG="$WORK/haproxy.cfg"
sed -e "s#@WORK@#$WORK#g" \
    -e "s/@FTPS@/$P_FTPS/g" -e "s/@FTPS_IMPLICIT@/$P_FTPS_IMPLICIT/g" -e "s/@SFTP@/$P_SFTP/g" \
    -e "s/@NODE_FTPS@/$P_NODE_FTPS/g" -e "s/@NODE_FTPS_IMPLICIT@/$P_NODE_FTPS_IMPLICIT/g" \
    -e "s/@NODE_SFTP@/$P_NODE_SFTP/g" \
    -e "s/@PASSIVE_A@/$PASSIVE_A/g" -e "s/@PASSIVE_B@/$PASSIVE_B/g" \
    -e "s/@FTPS_A@/$P_FTPS_A/g" -e "s/@SFTP_A@/$P_SFTP_A/g" \
    -e "s/@FTPS_B@/$P_FTPS_B/g" -e "s/@SFTP_B@/$P_SFTP_B/g" \
    "$HERE/haproxy.cfg.in" >"$HAPROXY_CFG"
if grep -n '^[^#]*@[A-Z_]*@' "$HAPROXY_CFG"; then
    fail "placeholders left in $HAPROXY_CFG"
fi
haproxy -c -q -f "$HAPROXY_CFG" || fail "haproxy -c rejects $HAPROXY_CFG"
LOGS+=("$WORK/haproxy.log")
haproxy -db -f "$HAPROXY_CFG" >"$WORK/haproxy.log" 2>&1 &
PIDS+=("$!")

# Prints "backend/server status" for every server, from HAProxy's runtime API.
haproxy_status() {
    python3 - "$WORK/haproxy.sock" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b"show stat\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
for line in data.decode().splitlines():
    fields = line.split(",")
    if line.startswith("#") or len(fields) < 18 or fields[1] in ("FRONTEND", "BACKEND"):
        continue
    print(f"{fields[0]}/{fields[1]} {fields[17]}")
EOF
}

# The nodes are ready when HAProxy's checks see all six checked servers up.
for i in $(seq 60); do
    kill -0 "$PID_A" 2>/dev/null || fail "ferryd node A exited at start"
    kill -0 "$PID_B" 2>/dev/null || fail "ferryd node B exited at start"
    up=$(haproxy_status 2>/dev/null | grep -c '_nodes/[ab] UP$' || true)
    ((up == 6)) && break
    ((i < 60)) || fail "HAProxy's checks do not see both nodes up after 30 s: $(haproxy_status | tr '\n' ' ')"
    sleep 0.5
done
pass "both nodes up behind HAProxy (explicit FTPS, implicit FTPS and SFTP checks)"

# ---------------------------------------------------------------------------------------------
# Clients, all bound to the client address.

CURL=(timeout 180 curl -sS --interface "$CLIENT_IP" --connect-timeout 10 -k --ssl-reqd
    --user "$USER_NAME:$PASSWORD")

ftps_url() { echo "ftp://127.0.0.1:$1/$2"; }      # port, path
implicit_url() { echo "ftps://127.0.0.1:$1/$2"; } # port, path

sftp_batch() { # port, then one sftp command per argument
    local port=$1
    shift
    printf '%s\n' "$@" >"$WORK/sftp.batch"
    timeout 180 sftp -q -b "$WORK/sftp.batch" -P "$port" -F /dev/null \
        -i "$WORK/client/id_ed25519" -o IdentitiesOnly=yes -o BatchMode=yes \
        -o BindAddress="$CLIENT_IP" -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "$USER_NAME@127.0.0.1"
}

lftp_run() { # port, lftp commands
    local settings="set cmd:fail-exit true; set net:socket-bind-ipv4 $CLIENT_IP"
    settings+="; set ftp:ssl-force true; set ftp:ssl-protect-data true"
    settings+="; set ssl:verify-certificate no; set net:max-retries 2; set net:timeout 30"
    settings+="; set net:reconnect-interval-base 1"
    timeout 300 lftp -c "$settings; open -u $USER_NAME,$PASSWORD -p $1 ftp://127.0.0.1; $2"
}

# ---------------------------------------------------------------------------------------------
step "shared host keys and certificate"

keyscan() { # port
    ssh-keyscan -T 10 -t ed25519,ecdsa -p "$1" 127.0.0.1 2>/dev/null | cut -d' ' -f2- | sort
}
keys_a=$(keyscan "$P_SFTP_A")
keys_b=$(keyscan "$P_SFTP_B")
[[ -n $keys_a && $keys_a == "$keys_b" ]] ||
    fail "nodes A and B present different SSH host keys:"$'\n'"$keys_a"$'\n'"$keys_b"
pass "both nodes present the same SSH host keys"

cert_fingerprint() { # port
    openssl s_client -connect "127.0.0.1:$1" -starttls ftp </dev/null 2>/dev/null |
        openssl x509 -noout -fingerprint -sha256 2>/dev/null
}
cert_a=$(cert_fingerprint "$P_FTPS_A")
cert_b=$(cert_fingerprint "$P_FTPS_B")
cert_file=$(openssl x509 -noout -fingerprint -sha256 -in "$SHARED/ftps-cert.pem")
[[ -n $cert_a && $cert_a == "$cert_file" && $cert_b == "$cert_file" ]] ||
    fail "TLS certificates differ: A '$cert_a', B '$cert_b', file '$cert_file'"
pass "both nodes present the shared TLS certificate"

# ---------------------------------------------------------------------------------------------
step "64 MiB through the balanced frontends"

mkdir -p "$WORK/files"
head -c 64M /dev/urandom >"$WORK/files/64m.bin"

"${CURL[@]}" -T "$WORK/files/64m.bin" "$(ftps_url "$P_FTPS" explicit-64m.bin)" ||
    fail "curl explicit FTPS upload failed"
"${CURL[@]}" -o "$WORK/files/explicit-64m.back" "$(ftps_url "$P_FTPS" explicit-64m.bin)" ||
    fail "curl explicit FTPS download failed"
same_file "explicit FTPS" "$WORK/files/64m.bin" "$WORK/files/explicit-64m.back"
pass "curl explicit FTPS: 64 MiB up and down, sha256 equal"

"${CURL[@]}" -T "$WORK/files/64m.bin" "$(implicit_url "$P_FTPS_IMPLICIT" implicit-64m.bin)" ||
    fail "curl implicit FTPS upload failed"
"${CURL[@]}" -o "$WORK/files/implicit-64m.back" \
    "$(implicit_url "$P_FTPS_IMPLICIT" implicit-64m.bin)" ||
    fail "curl implicit FTPS download failed"
same_file "implicit FTPS" "$WORK/files/64m.bin" "$WORK/files/implicit-64m.back"
pass "curl implicit FTPS: 64 MiB up and down, sha256 equal"

sftp_batch "$P_SFTP" "put $WORK/files/64m.bin sftp-64m.bin" >/dev/null ||
    fail "sftp upload failed"
sftp_batch "$P_SFTP" "get sftp-64m.bin $WORK/files/sftp-64m.back" >/dev/null ||
    fail "sftp download failed"
same_file "SFTP" "$WORK/files/64m.bin" "$WORK/files/sftp-64m.back"
pass "OpenSSH sftp: 64 MiB up and down, sha256 equal"

# ---------------------------------------------------------------------------------------------
step "lftp mirror of 200 files"

for d in $(seq -w 1 10); do
    mkdir -p "$WORK/tree/d$d"
    for f in $(seq -w 1 20); do
        head -c $((RANDOM % 4096 + 1)) /dev/urandom >"$WORK/tree/d$d/f$f"
    done
done
lftp_run "$P_FTPS" "mirror -R --no-perms --parallel=4 $WORK/tree tree" \
    >"$WORK/lftp-up.log" 2>&1 || fail "lftp mirror -R failed: $(tail -n 5 "$WORK/lftp-up.log")"
lftp_run "$P_FTPS" "find tree" >"$WORK/lftp-find.log" 2>&1 ||
    fail "lftp find failed: $(tail -n 5 "$WORK/lftp-find.log")"
# The last two path components of every file (directories end in /): d01/f01 ...
grep -v '/$' "$WORK/lftp-find.log" | awk -F/ '{ print $(NF-1) "/" $NF }' | sort >"$WORK/tree.remote"
(cd "$WORK/tree" && find . -type f | awk -F/ '{ print $(NF-1) "/" $NF }' | sort) >"$WORK/tree.local"
[[ $(wc -l <"$WORK/tree.local") -eq 200 ]] || fail "the local tree does not have 200 files"
diff "$WORK/tree.local" "$WORK/tree.remote" >"$WORK/tree.diff" ||
    fail "the listing of the mirrored tree differs: $(head -n 10 "$WORK/tree.diff")"
pass "lftp mirror -R of 200 files: all 200 list back"
lftp_run "$P_FTPS" "mirror --parallel=4 tree $WORK/tree.back" >"$WORK/lftp-down.log" 2>&1 ||
    fail "lftp mirror (download) failed: $(tail -n 5 "$WORK/lftp-down.log")"
diff -r "$WORK/tree" "$WORK/tree.back" >/dev/null ||
    fail "the tree mirrored back down differs from the one sent"
pass "lftp mirror back down: all 200 files equal"

# ---------------------------------------------------------------------------------------------
step "upload through node A, list and download through node B"

head -c 4M /dev/urandom >"$WORK/files/cross.bin"
"${CURL[@]}" -T "$WORK/files/cross.bin" "$(ftps_url "$P_FTPS_A" cross.bin)" ||
    fail "upload through node A failed"
"${CURL[@]}" --list-only "$(ftps_url "$P_FTPS_B" '')" >"$WORK/cross.list" ||
    fail "FTPS listing through node B failed"
tr -d '\r' <"$WORK/cross.list" | grep -qx 'cross.bin' || fail "node B's FTPS listing lacks cross.bin"
sftp_batch "$P_SFTP_B" "ls -l cross.bin" "get cross.bin $WORK/files/cross.back" \
    >"$WORK/cross.sftp" || fail "SFTP through node B failed"
grep -q '4194304 .*cross.bin' "$WORK/cross.sftp" ||
    fail "node B's SFTP ls -l does not show cross.bin with 4194304 bytes: $(cat "$WORK/cross.sftp")"
same_file "node A -> node B" "$WORK/files/cross.bin" "$WORK/files/cross.back"
pass "uploaded through node A (FTPS), listed through B (FTPS, SFTP), downloaded through B"

# ---------------------------------------------------------------------------------------------
step "client address in the nodes' logs"

for node in a b; do
    log="$WORK/node-$node/ferryd.log"
    grep -q "$CLIENT_IP" "$log" || fail "node $node's log never names the client $CLIENT_IP"
    grep -q "$CLIENT_IP" "$WORK/node-$node/xferlog" ||
        fail "node $node's xferlog never names the client $CLIENT_IP"
done
pass "both nodes' logs and xferlogs name $CLIENT_IP as the client"

# ---------------------------------------------------------------------------------------------
step "kill -9 of the node carrying a 256 MiB upload"

head -c 1000 /dev/urandom >"$WORK/files/big.old"
"${CURL[@]}" -T "$WORK/files/big.old" "$(ftps_url "$P_FTPS_B" big.bin)" ||
    fail "uploading the older version of big.bin failed"
head -c 256M /dev/urandom >"$WORK/files/big.bin"

# Through node A only, at 32 MiB/s: about 8 s, so the kill lands mid-transfer.
"${CURL[@]}" --limit-rate 32M -T "$WORK/files/big.bin" "$(ftps_url "$P_FTPS_A" big.bin)" \
    >"$WORK/killed-upload.log" 2>&1 &
UPLOAD_PID=$!
PIDS+=("$UPLOAD_PID")

# Bytes are in once node A has started the multipart upload in the bucket.
uploads() { s3 "/$BUCKET?uploads=" | grep -o '<Key>[^<]*</Key>' | grep -c 'big\.bin</Key>' || true; }
seen=0
for _ in $(seq 40); do
    kill -0 "$UPLOAD_PID" 2>/dev/null || fail "the upload ended before the kill: $(cat "$WORK/killed-upload.log")"
    if (($(uploads) > 0)); then
        seen=1
        break
    fi
    sleep 0.25
done
((seen)) || fail "no multipart upload of big.bin appeared in the bucket within 10 s"
sleep 1
kill -0 "$UPLOAD_PID" 2>/dev/null || fail "the upload ended before the kill: $(cat "$WORK/killed-upload.log")"
kill -9 "$PID_A"
wait "$PID_A" 2>/dev/null || true
if wait "$UPLOAD_PID"; then
    fail "curl reported the upload through the killed node A as complete"
fi
pass "node A killed (kill -9) during a 256 MiB upload; the client saw the transfer fail"

# Through node B: the older version, untouched.
"${CURL[@]}" -o "$WORK/files/big.after-kill" "$(ftps_url "$P_FTPS_B" big.bin)" ||
    fail "downloading big.bin through node B after the kill failed"
same_file "big.bin after the kill" "$WORK/files/big.old" "$WORK/files/big.after-kill"
# And in the bucket itself: one object named big.bin, of the older version's size.
s3 "/$BUCKET?list-type=2" >"$WORK/bucket.xml"
sizes=$(python3 - "$WORK/bucket.xml" <<'EOF'
import sys, xml.etree.ElementTree as ET
ns = "{http://s3.amazonaws.com/doc/2006-03-01/}"
root = ET.parse(sys.argv[1]).getroot()
for item in root.iter(ns + "Contents"):
    if item.find(ns + "Key").text.endswith("/big.bin"):
        print(item.find(ns + "Size").text)
EOF
)
[[ $sizes == 1000 ]] || fail "the bucket holds big.bin with sizes '$sizes', not the older 1000 bytes"
pass "no half upload under the final key: big.bin is still the older version (through node B and in the bucket)"
orphans=$(uploads)
echo "   the killed node left $orphans incomplete multipart upload(s) of big.bin in the bucket"

# What the lifecycle rule does a day later, now: Garage aborts the orphaned upload. (Before the
# retry: Garage also drops a key's older incomplete uploads once a newer upload of it completes.)
((orphans > 0)) || fail "no incomplete upload of big.bin is left in the bucket after the kill"
sleep 1
garage -c "$WORK/garage/garage.toml" bucket cleanup-incomplete-uploads --older-than 1s \
    "$BUCKET" >"$WORK/garage/cleanup.log" 2>&1 ||
    fail "garage bucket cleanup-incomplete-uploads failed: $(cat "$WORK/garage/cleanup.log")"
for i in $(seq 20); do
    (($(uploads) == 0)) && break
    ((i < 20)) || fail "incomplete uploads of big.bin remain 5 s after the cleanup"
    sleep 0.25
done
pass "garage bucket cleanup-incomplete-uploads removed the killed node's parts"

# HAProxy's checks take node A out; the client's retry through the balanced frontend then
# completes on node B.
for i in $(seq 20); do
    down=$(haproxy_status | grep -c '_nodes/a DOWN$' || true)
    ((down == 3)) && break
    ((i < 20)) || fail "HAProxy does not see node A down after 10 s: $(haproxy_status | tr '\n' ' ')"
    sleep 0.5
done
"${CURL[@]}" -T "$WORK/files/big.bin" "$(ftps_url "$P_FTPS" big.bin)" ||
    fail "the retried upload through HAProxy failed"
sftp_batch "$P_SFTP" "get big.bin $WORK/files/big.back" >/dev/null ||
    fail "downloading the retried big.bin through HAProxy failed"
same_file "retried upload" "$WORK/files/big.bin" "$WORK/files/big.back"
grep -q "$CLIENT_IP" "$LOG_B" || fail "node B's log does not name the client"
pass "the retry through HAProxy completed on node B: 256 MiB, sha256 equal"

# ---------------------------------------------------------------------------------------------
STEP="summary"
printf '\nscale-out test passed in %ss:\n' "$((SECONDS - STARTED))"
printf '  - %s\n' "${PASSED[@]}"
