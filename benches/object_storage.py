#!/usr/bin/python3
"""Object-storage legs of the ferryd benchmark (issue 16): 1 GiB up and down through ferryd to
a Garage bucket, against rclone's servers on the same bucket and against rclone straight to
Garage's S3 endpoint.

Normally started by object_storage.sh (which finds the binaries and waits for a quiet
machine). Directly:

  object_storage.py --ferryd-bin B --rclone-bin R --garage-bin G [--size MiB] [--reps N]
                    [--work DIR] [--out DIR] [--no-wait] [--no-sandbox]
                    [--direction up|down|both] [--legs ferryd:sftp,direct:s3,...]

Legs, each up (client -> server -> Garage) and down (Garage -> server -> client):

  ferryd  FTPS  curl --ssl-reqd -k (explicit TLS, passive), password from a netrc
  ferryd  FTPS  curl -k ftps:// (implicit TLS), the same otherwise
  rclone  FTPS  `rclone serve ftp` with --cert/--key, ferryd's certificate: with a certificate it
                speaks implicit TLS only (curl ftps://), so it is compared with ferryd's
                implicit listener as well as its explicit one
  ferryd  SFTP  OpenSSH sftp, key auth, default cipher
  rclone  SFTP  `rclone serve sftp`, the same sftp command
  both    SFTP  again with `sftp -R 16` (16 requests in flight instead of 64): ferryd's reorder
                window for uploads to object storage holds at most 16 writes
  direct  S3    `rclone copyto` between the local file and the bucket (rclone's defaults: 4 parts
                of 5 MiB in flight up, 4 streams down): the limit of the path

Every process (Garage, ferryd, the two rclone servers) is started here, listens on 127.0.0.1,
and is stopped here by its own PID. Garage's metadata and data, the files moved and the
downloads all live on tmpfs (--work, default /dev/shm/ferryd-s3bench). The rclone servers use
their defaults (VFS cache off: uploads stream to a multipart upload, downloads read ranges).

Each run is timed over the whole client process (connect, login, transfer, close). Per run:
the server's CPU (utime+stime of its process from /proc/PID/stat, every thread), Garage's
CPU, the client's CPU (getrusage of the waited children), and the server's peak RSS (VmHWM,
reset through /proc/PID/clear_refs before the run) next to its RSS before the run. Runs of one
direction alternate between the legs (A B C D E, the start rotating each round) after one
untimed pass per leg that checks the bytes (SHA-256 of the round trip) and warms every server.
Results: DIR/results.jsonl (one JSON line per run) and DIR/report.md.
"""

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

LOCAL = "127.0.0.1"
MiB = 1 << 20

from bench import load1, sha256_file  # noqa: E402  (the main benchmark's helpers)
GiB = 1 << 30
CLK_TCK = os.sysconf("SC_CLK_TCK")

# ports: outside the peers' 21000-21999 and run.sh's 23000-23199
GARAGE_S3, GARAGE_RPC = 24900, 24901
FERRYD_FTPS, FERRYD_IMPLICIT, FERRYD_SFTP, FERRYD_PASSIVE = 24021, 24990, 24022, "24100-24199"
RCLONE_FTP, RCLONE_SFTP, RCLONE_PASSIVE = 24121, 24122, "24200-24299"

BUCKET = "ferryd-bench"
ACCESS_KEY = "GK" + "5eedbe4c0ffee0ddba11fa11"          # GK + 24 hex
SECRET_KEY = "b0a710ad" * 8                              # 64 hex
RPC_SECRET = "fe77d5b3" * 8
USER, PASSWORD = "bench", "bench-object-storage-pass"


def log(msg):
    print(f"[object_storage {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def port_open(port):
    try:
        socket.create_connection((LOCAL, port), timeout=1).close()
        return True
    except OSError:
        return False


def wait_port(port, proc, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}) before opening port {port}")
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not open port {port} within {timeout:.0f} s")


def cpu_seconds(pid):
    """utime+stime of a process, all its threads (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    fields = data[data.rindex(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def reset_peak_rss(pid):
    """Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def rotate(items, k):
    k %= len(items)
    return items[k:] + items[:k]


class Proc:
    """A daemon started here and stopped by its own PID only."""

    def __init__(self, name, argv, env, log_path):
        self.name, self.argv, self.env, self.log_path = name, argv, env, log_path
        self.p = None

    def start(self):
        logf = open(self.log_path, "ab")
        self.p = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                  env=self.env, start_new_session=True)
        return self

    @property
    def pid(self):
        return self.p.pid

    def stop(self):
        if self.p is None or self.p.poll() is not None:
            return
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(20)
        except subprocess.TimeoutExpired:
            log(f"{self.name} did not stop on SIGTERM within 20 s; SIGKILL")
            self.p.kill()
            self.p.wait()

    def tail(self, n=5):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(max(0, os.path.getsize(self.log_path) - 8192))
                return f.read().decode(errors="replace").splitlines()[-n:]
        except OSError:
            return []


class Bench:
    def __init__(self, args):
        self.a = args
        self.size = args.size * MiB
        self.work = args.work
        self.out = args.out
        os.makedirs(self.out, exist_ok=True)
        self.results = open(os.path.join(self.out, "results.jsonl"), "a")
        self.client = os.path.join(self.work, "client")
        self.procs = []
        self.rclone_env = dict(
            os.environ,
            RCLONE_CONFIG=os.path.join(self.work, "rclone.conf"),  # empty: only the env remote
            RCLONE_CONFIG_GARAGE_TYPE="s3", RCLONE_CONFIG_GARAGE_PROVIDER="Other",
            RCLONE_CONFIG_GARAGE_ENDPOINT=f"http://{LOCAL}:{GARAGE_S3}",
            RCLONE_CONFIG_GARAGE_ACCESS_KEY_ID=ACCESS_KEY,
            RCLONE_CONFIG_GARAGE_SECRET_ACCESS_KEY=SECRET_KEY,
            RCLONE_CONFIG_GARAGE_REGION="garage", RCLONE_CONFIG_GARAGE_FORCE_PATH_STYLE="true")
        self.meta = {}

    def record(self, row):
        row["load1"] = load1()
        row["t"] = time.time()
        self.results.write(json.dumps(row) + "\n")
        self.results.flush()

    def daemon(self, name, argv, env=None):
        p = Proc(name, argv, env or dict(os.environ), os.path.join(self.out, f"{name}.log"))
        self.procs.append(p)
        return p.start()

    def stop_all(self):
        for p in reversed(self.procs):
            p.stop()

    # ------------------------------------------------------------ setup
    def setup(self):
        for port in (GARAGE_S3, GARAGE_RPC, FERRYD_FTPS, FERRYD_IMPLICIT, FERRYD_SFTP,
                     RCLONE_FTP, RCLONE_SFTP):
            if port_open(port):
                raise RuntimeError(f"port {port} is in use: is an earlier run still going?")
        for d in ("garage", "ferryd", "rclone"):
            shutil.rmtree(os.path.join(self.work, d), ignore_errors=True)
        os.makedirs(self.client, exist_ok=True)
        open(self.rclone_env["RCLONE_CONFIG"], "w").close()
        self.src = os.path.join(self.client, "big.bin")
        self.down = os.path.join(self.client, "down.bin")
        if not os.path.exists(self.src) or os.path.getsize(self.src) != self.size:
            log(f"writing {self.size // MiB} MiB of random bytes to {self.src}")
            with open(self.src + ".tmp", "wb") as f:
                for _ in range(self.size // MiB):
                    f.write(os.urandom(MiB))
            os.rename(self.src + ".tmp", self.src)
        self.src_sha = sha256_file(self.src)
        self.key = os.path.join(self.client, "id_ed25519")
        if not os.path.exists(self.key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench",
                            "-f", self.key], check=True)
        self.netrc = os.path.join(self.client, "netrc")
        with open(os.open(self.netrc, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(f"machine {LOCAL} login {USER} password {PASSWORD}\n")
        self.start_garage()
        self.start_ferryd()
        self.start_rclone()

    def start_garage(self):
        root = os.path.join(self.work, "garage")
        os.makedirs(root)
        conf = os.path.join(root, "garage.toml")
        with open(conf, "w") as f:
            f.write(f'''metadata_dir = "{root}/meta"
data_dir = "{root}/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "{LOCAL}:{GARAGE_RPC}"
rpc_public_addr = "{LOCAL}:{GARAGE_RPC}"
rpc_secret = "{RPC_SECRET}"

[s3_api]
s3_region = "garage"
api_bind_addr = "{LOCAL}:{GARAGE_S3}"
root_domain = ".s3.garage.localhost"
''')
        env = dict(os.environ, GARAGE_DEFAULT_ACCESS_KEY=ACCESS_KEY,
                   GARAGE_DEFAULT_SECRET_KEY=SECRET_KEY, GARAGE_DEFAULT_BUCKET=BUCKET,
                   # one line per S3 request: counted per run (requests per GiB)
                   RUST_LOG="garage=warn,garage_api_common=info")
        self.garage = self.daemon("garage", [self.a.garage_bin, "-c", conf, "server",
                                             "--single-node", "--default-bucket"], env)
        wait_port(GARAGE_S3, self.garage.p, "garage")
        # the layout and the default bucket are set up a few seconds after the port opens
        deadline = time.monotonic() + 60
        while True:
            r = subprocess.run([self.a.rclone_bin, "lsf", f"garage:{BUCKET}", "--retries", "1",
                                "--low-level-retries", "1"], env=self.rclone_env,
                               capture_output=True)
            if r.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("garage bucket not ready after 60 s: "
                                   + r.stderr.decode(errors="replace")[-300:])
            time.sleep(1)
        self.meta["garage"] = subprocess.run([self.a.garage_bin, "--version"], text=True,
                                             capture_output=True).stdout.strip()
        log("garage ready")

    def ferryd_cmd(self, *args, stdin=None):
        return subprocess.run([self.a.ferryd_bin, "--config", self.ferryd_conf, *args],
                              input=stdin, capture_output=True, text=True, check=True)

    def start_ferryd(self):
        d = os.path.join(self.work, "ferryd")
        subprocess.run([self.a.ferryd_bin, "init", "--dir", d, "--name", LOCAL],
                       check=True, capture_output=True)
        self.ferryd_conf = os.path.join(d, "ferryd.toml")
        with open(self.ferryd_conf) as f:
            text = f.read()
        os.makedirs(os.path.join(d, "data"), exist_ok=True)
        os.makedirs(os.path.join(d, "state"), exist_ok=True)
        # the generated production config, with listeners and directories of this bench
        text = set_key(text, "server", "data_dir", f'"{d}/data"')
        text = set_key(text, "server", "state_dir", f'"{d}/state"')
        text = set_key(text, "ftps", "listen", f'"{LOCAL}:{FERRYD_FTPS}"')
        text = set_key(text, "ftps", "implicit_listen", f'"{LOCAL}:{FERRYD_IMPLICIT}"')
        text = set_key(text, "ftps", "passive_ports", f'"{FERRYD_PASSIVE}"')
        text = set_key(text, "ftps", "passive_address", f'"{LOCAL}"')
        text = set_key(text, "sftp", "listen", f'"{LOCAL}:{FERRYD_SFTP}"')
        text = set_key(text, "s3", "endpoint", f'"http://{LOCAL}:{GARAGE_S3}"')
        text = set_key(text, "s3", "region", '"garage"')
        text = set_key(text, "s3", "bucket", f'"{BUCKET}"')
        text = set_key(text, "s3", "path_style", "true")
        text = set_key(text, "defender", "allow_list", '["127.0.0.0/8"]')
        if self.a.no_sandbox:
            text = set_key(text, "sandbox", "enabled", "false")
        with open(self.ferryd_conf, "w") as f:
            f.write(text)
        env_s3 = dict(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
        os.environ.update(env_s3)  # check-config reads the credentials too
        with open(self.key + ".pub") as f:
            pub = f.read().strip()
        self.ferryd_cmd("user", "add", USER, "--storage", "s3", "--prefix", USER,
                        "--password-stdin", "--key", pub, stdin=PASSWORD)
        self.ferryd_cmd("check-config")
        self.tls_cert, self.tls_key = ferryd_tls_paths(text, d)
        self.ferryd = self.daemon("ferryd", [self.a.ferryd_bin, "--config", self.ferryd_conf,
                                             "serve"], dict(os.environ, **env_s3))
        for port in (FERRYD_FTPS, FERRYD_SFTP):
            wait_port(port, self.ferryd.p, "ferryd")
        self.meta["ferryd"] = subprocess.run([self.a.ferryd_bin, "--version"], text=True,
                                             capture_output=True).stdout.strip()
        self.meta["ferryd_sandbox"] = not self.a.no_sandbox
        log("ferryd ready")

    def start_rclone(self):
        d = os.path.join(self.work, "rclone")
        os.makedirs(d)
        host_key = os.path.join(d, "ssh_host_ed25519_key")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", host_key],
                       check=True)
        shutil.copy(self.key + ".pub", os.path.join(d, "authorized_keys"))
        remote = f"garage:{BUCKET}/rclone"
        common = ["--user", USER, "--pass", PASSWORD, "--log-level", "NOTICE"]
        self.rclone_ftp = self.daemon("rclone-ftp", [
            self.a.rclone_bin, "serve", "ftp", remote, "--addr", f"{LOCAL}:{RCLONE_FTP}",
            "--passive-port", RCLONE_PASSIVE, "--public-ip", LOCAL,
            "--cert", self.tls_cert, "--key", self.tls_key, *common], self.rclone_env)
        self.rclone_sftp = self.daemon("rclone-sftp", [
            self.a.rclone_bin, "serve", "sftp", remote, "--addr", f"{LOCAL}:{RCLONE_SFTP}",
            "--key", host_key, "--authorized-keys", os.path.join(d, "authorized_keys"),
            *common], self.rclone_env)
        wait_port(RCLONE_FTP, self.rclone_ftp.p, "rclone serve ftp")
        wait_port(RCLONE_SFTP, self.rclone_sftp.p, "rclone serve sftp")
        self.meta["rclone"] = subprocess.run([self.a.rclone_bin, "version"], text=True,
                                             capture_output=True).stdout.splitlines()[0]
        log("rclone servers ready")

    # ------------------------------------------------------------ legs
    def legs(self):
        """(name, proto, server process or None) in a fixed order, those --legs names."""
        every = [("ferryd", "ftps", self.ferryd), ("ferryd", "ftps-implicit", self.ferryd),
                ("rclone-serve", "ftps-implicit", self.rclone_ftp),
                ("ferryd", "sftp", self.ferryd), ("rclone-serve", "sftp", self.rclone_sftp),
                ("ferryd", "sftp-r16", self.ferryd),
                ("rclone-serve", "sftp-r16", self.rclone_sftp),
                ("direct", "s3", None)]
        chosen = self.a.legs.split(",") if self.a.legs else None
        return [leg for leg in every if chosen is None or f"{leg[0]}:{leg[1]}" in chosen]

    def cmd(self, server, proto, direction, verbose=False):
        remote = "big.bin"
        local = self.src if direction == "up" else self.down
        if proto == "ftps":  # explicit TLS (AUTH TLS)
            url, tls = f"ftp://{LOCAL}:{FERRYD_FTPS}/{remote}", ["--ssl-reqd"]
        elif proto == "ftps-implicit":  # rclone serve ftp with --cert speaks only this
            port = FERRYD_IMPLICIT if server == "ferryd" else RCLONE_FTP
            url, tls = f"ftps://{LOCAL}:{port}/{remote}", []
        if proto.startswith("ftps"):
            base = ["curl", "-v" if verbose else "-sS", "--fail", "-k", *tls,
                    "--netrc-file", self.netrc]
            return base + (["-T", local, url] if direction == "up" else ["-o", local, url])
        if proto.startswith("sftp"):
            port = FERRYD_SFTP if server == "ferryd" else RCLONE_SFTP
            # sftp-r16: at most 16 requests in flight instead of OpenSSH's 64 (see
            # REORDER_WINDOW_WRITES in src/vfs/upload_order.rs)
            requests = ["-R", "16"] if proto == "sftp-r16" else []
            batch = os.path.join(self.client, f"sftp-{direction}.batch")
            with open(batch, "w") as f:
                f.write(f"put {local} {remote}\n" if direction == "up"
                        else f"get {remote} {local}\n")
            return ["sftp", *([] if verbose else ["-q"]), *requests, "-b", batch,
                    "-P", str(port), "-i", self.key,
                    "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                    "-o", "BatchMode=yes", "-o", "LogLevel=DEBUG1" if verbose else "LogLevel=ERROR",
                    f"{USER}@{LOCAL}"]
        obj = f"garage:{BUCKET}/direct/{remote}"
        # -I: always transfer (the object and the file are identical after the first run)
        base = [self.a.rclone_bin, "copyto", "-I", "--retries", "1"]
        return base + ([local, obj] if direction == "up" else [obj, local])

    def run(self, server, proto, direction, rep, verbose=False):
        env = self.rclone_env if server == "direct" else None
        proc = {(sv, pr): p for sv, pr, p in self.legs()}[(server, proto)]
        if direction == "down" and os.path.exists(self.down):
            os.unlink(self.down)
        argv = self.cmd(server, proto, direction, verbose)
        rss0 = None
        if proc:
            reset_peak_rss(proc.pid)
            rss0 = status_kib(proc.pid, "VmRSS")
            s0 = cpu_seconds(proc.pid)
        g0, c0 = cpu_seconds(self.garage.pid), child_cpu()
        q0 = self.s3_requests()
        t0 = time.perf_counter()
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, env=env, timeout=600)
        seconds = time.perf_counter() - t0
        time.sleep(0.3)  # let the server finish its side (completing the upload, closing)
        row = dict(server=server, proto=proto, direction=direction, rep=rep,
                   bytes=self.size, seconds=seconds, mbps=self.size / seconds / 1e6,
                   garage_cpu=cpu_seconds(self.garage.pid) - g0, client_cpu=child_cpu() - c0,
                   s3_requests={k: v - q0.get(k, 0) for k, v in self.s3_requests().items()})
        if proc:
            row.update(server_cpu=cpu_seconds(proc.pid) - s0, rss_before_kib=rss0,
                       peak_rss_kib=status_kib(proc.pid, "VmHWM"))
        err = r.stderr.decode(errors="replace")
        if r.returncode != 0:
            msg = " / ".join(l for l in err.splitlines() if not l.startswith("debug")
                             and not l.lstrip().startswith(("*", "<", ">", "{", "}", "%", "0")))
            row["error"] = f"exit {r.returncode}: {msg[-400:]}"
            if proc:
                row["error"] += " | server log: " + " / ".join(proc.tail(4))
            log(f"ERROR {server} {proto} {direction}: {row['error']}")
        return row, err

    def s3_requests(self):
        """Requests Garage has logged so far, by method."""
        counts = {}
        with open(self.garage.log_path, "rb") as f:
            for m in re.finditer(rb" (GET|PUT|POST|HEAD|DELETE) /", f.read()):
                k = m.group(1).decode()
                counts[k] = counts.get(k, 0) + 1
        return counts

    def verify(self):
        """One untimed round trip per leg: the downloaded bytes are the uploaded ones; also
        notes the TLS cipher curl got and the SSH cipher sftp got."""
        for server, proto, _ in self.legs():
            for direction in ("up", "down"):
                for attempt in range(3):
                    row, err = self.run(server, proto, direction, -1, verbose=True)
                    if "error" not in row:
                        break
                    row["verify_attempt"] = attempt
                    self.record(row)  # a failed verify counts as a failed run
                else:
                    # kept in the timed runs, where each failure is counted
                    log(f"verify {server} {proto} {direction}: failed 3 times; go on")
                    ok = False
                    continue
                ok = True
                m = re.search(r"SSL connection using (\S+) / (\S+)", err)
                if m:
                    self.meta[f"tls {server} {proto}"] = f"{m.group(1)} {m.group(2)}"
                m = re.search(r"kex: server->client cipher: (\S+)", err)
                if m:
                    self.meta[f"ssh cipher {server}"] = m.group(1)
                log(f"verify {server} {proto} {direction}: {row['mbps']:.0f} MB/s")
            if ok and sha256_file(self.down) != self.src_sha:
                raise RuntimeError(f"verify {server} {proto}: round trip changed the bytes")
        if os.path.exists(self.down):
            os.unlink(self.down)

    def measure(self):
        legs = self.legs()
        directions = ("up", "down") if self.a.direction == "both" else (self.a.direction,)
        for rep in range(self.a.reps):
            for direction in directions:
                for server, proto, _ in rotate(legs, rep):
                    row, _ = self.run(server, proto, direction, rep)
                    self.record(row)
                    extra = ""
                    if "server_cpu" in row:
                        extra = (f", server CPU {row['server_cpu']:.2f} s, peak RSS "
                                 f"{row['peak_rss_kib'] / 1024:.0f} MiB")
                    log(f"rep {rep} {direction:4} {server:12} {proto:4} "
                        f"{row['mbps']:6.0f} MB/s{extra}, garage CPU {row['garage_cpu']:.2f} s, "
                        f"load {row['load1']:.2f}")
        if os.path.exists(self.down):
            os.unlink(self.down)


def set_key(text, section, key, value):
    """Set `key = value` in [section] of a TOML text, keeping the rest (and its comments)."""
    lines = text.splitlines()
    start = next((i for i, l in enumerate(lines) if l.strip() == f"[{section}]"), None)
    if start is None:
        return text.rstrip("\n") + f"\n\n[{section}]\n{key} = {value}\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")),
               len(lines))
    for i in range(start + 1, end):
        if re.match(rf"\s*{re.escape(key)}\s*=", lines[i]):
            lines[i] = f"{key} = {value}"
            return "\n".join(lines) + "\n"
    lines.insert(start + 1, f"{key} = {value}")
    return "\n".join(lines) + "\n"


def ferryd_tls_paths(text, d):
    """The certificate and key `ferryd init` wrote ([ftps] cert / key, relative names against
    server.state_dir): rclone serve ftp gets the same pair, so both pay for the same handshake."""
    import tomllib
    conf = tomllib.loads(text)
    state = conf.get("server", {}).get("state_dir", os.path.join(d, "state"))
    return tuple(p if os.path.isabs(p) else os.path.join(state, p)
                 for p in (conf["ftps"]["cert"], conf["ftps"]["key"]))


# ---------------------------------------------------------------- the report
def med(xs):
    return statistics.median(xs) if xs else float("nan")


def reqs(rs, gib):
    """Median S3 requests per GiB by method, e.g. "GET 260, PUT 128"."""
    if "s3_requests" not in rs[0]:
        return "—"
    methods = sorted({k for r in rs for k in r["s3_requests"]})
    return ", ".join(f"{k} {med([r['s3_requests'].get(k, 0) for r in rs]) / gib:.0f}"
                     for k in methods) or "0"


def report(rows, meta, size):
    out = []
    w = out.append
    gib = size / GiB
    ok = [r for r in rows if "error" not in r]
    legs = [("ferryd", "ftps", "ferryd, curl FTPS explicit"),
            ("ferryd", "ftps-implicit", "ferryd, curl FTPS implicit"),
            ("rclone-serve", "ftps-implicit", "rclone serve ftp, curl FTPS implicit"),
            ("ferryd", "sftp", "ferryd, OpenSSH sftp"),
            ("rclone-serve", "sftp", "rclone serve sftp, OpenSSH sftp"),
            ("ferryd", "sftp-r16", "ferryd, OpenSSH sftp -R 16"),
            ("rclone-serve", "sftp-r16", "rclone serve sftp, OpenSSH sftp -R 16"),
            ("direct", "s3", "rclone copyto, S3 direct")]
    reps = max((r["rep"] for r in rows), default=-1) + 1
    w(f"{size // MiB} MiB per run, {reps} interleaved runs per leg; MB/s are 10^6 bytes/s over "
      "the whole client run; CPU in seconds per GiB moved; peak RSS is VmHWM during the run "
      "(reset before it), with the RSS before it in brackets.")
    w("")
    w("| leg | direction | MB/s median (min–max) | server CPU s/GiB | Garage CPU s/GiB "
      "| client CPU s/GiB | server peak RSS MiB (before) | S3 requests per GiB |")
    w("|---|---|---|---|---|---|---|---|")
    mbps = {}
    for direction in ("up", "down"):
        for server, proto, label in legs:
            rs = [r for r in ok if r["server"] == server and r["proto"] == proto
                  and r["direction"] == direction]
            if not rs:
                w(f"| {label} | {direction} | no run | | | | | |")
                continue
            m = [r["mbps"] for r in rs]
            mbps[(server, proto, direction)] = med(m)
            scpu = (f"{med([r['server_cpu'] for r in rs]) / gib:.2f}" if "server_cpu" in rs[0]
                    else "—")
            rss = (f"{max(r['peak_rss_kib'] for r in rs) / 1024:.0f} "
                   f"({med([r['rss_before_kib'] for r in rs]) / 1024:.0f})"
                   if "peak_rss_kib" in rs[0] else "—")
            w(f"| {label} | {direction} | {med(m):.0f} ({min(m):.0f}–{max(m):.0f}) | {scpu} | "
              f"{med([r['garage_cpu'] for r in rs]) / gib:.2f} | "
              f"{med([r['client_cpu'] for r in rs]) / gib:.2f} | {rss} | {reqs(rs, gib)} |")
    w("")
    w("| ratio (medians) | up | down |")
    w("|---|---|---|")
    pairs = [(("ferryd", "ftps"), ("rclone-serve", "ftps-implicit"),
              "ferryd FTPS explicit ÷ rclone serve ftp (implicit)"),
             (("ferryd", "ftps-implicit"), ("rclone-serve", "ftps-implicit"),
              "ferryd FTPS implicit ÷ rclone serve ftp (implicit)"),
             (("ferryd", "sftp"), ("rclone-serve", "sftp"), "ferryd SFTP ÷ rclone serve sftp"),
             (("ferryd", "sftp-r16"), ("rclone-serve", "sftp-r16"),
              "ferryd SFTP ÷ rclone serve sftp, both sftp -R 16"),
             (("ferryd", "ftps"), ("direct", "s3"), "ferryd FTPS explicit ÷ direct S3 copy"),
             (("ferryd", "ftps-implicit"), ("direct", "s3"),
              "ferryd FTPS implicit ÷ direct S3 copy"),
             (("ferryd", "sftp"), ("direct", "s3"), "ferryd SFTP ÷ direct S3 copy"),
             (("ferryd", "sftp-r16"), ("direct", "s3"), "ferryd SFTP -R 16 ÷ direct S3 copy")]
    for x, y, label in pairs:
        cells = []
        for direction in ("up", "down"):
            a, b = mbps.get((*x, direction)), mbps.get((*y, direction))
            cells.append(f"{a / b:.2f}×" if a and b else "—")
        w(f"| {label} | {cells[0]} | {cells[1]} |")
    errors = {}
    for r in rows:
        if "error" in r:
            errors.setdefault((r["server"], r["proto"], r["direction"]), []).append(r)
    if errors:
        w("")
        w("Failed runs (not in the figures above; the check pass before the timed runs counts too):")
        w("")
        for (server, proto, direction), rs in sorted(errors.items()):
            first = rs[0]["error"].replace("\n", " ").replace("|", "/")[:240]
            w(f"- {server} {proto} {direction}: {len(rs)} failed; first: {first}")
    w("")
    w("Versions and ciphers: " + "; ".join(f"{k}: {v}" for k, v in sorted(meta.items())))
    loads = [r["load1"] for r in rows]
    if loads:
        w(f"1-min load during the runs: {min(loads):.2f}–{max(loads):.2f}.")
    return "\n".join(out) + "\n"


def wait_quiet(max_seconds, threshold=1.0):
    """Until no rustc/cargo runs and the 1-min load is below threshold (checked every 15 s)."""
    deadline = time.monotonic() + max_seconds
    while True:
        busy = subprocess.run(["pgrep", "-x", "rustc|cargo"], capture_output=True).returncode == 0
        load = load1()
        if not busy and load < threshold:
            log(f"machine quiet (load {load:.2f})")
            return True
        if time.monotonic() > deadline:
            log(f"machine still busy (load {load:.2f}, compiler running: {busy}); measuring "
                "anyway: the figures are noisy")
            return False
        time.sleep(15)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--report", metavar="DIR",
                    help="only write DIR/report.md again from DIR/results.jsonl and meta.json")
    ap.add_argument("--ferryd-bin")
    ap.add_argument("--rclone-bin")
    ap.add_argument("--garage-bin")
    ap.add_argument("--work", default="/dev/shm/ferryd-s3bench")
    ap.add_argument("--out")
    ap.add_argument("--size", type=int, default=1024, help="MiB per transfer")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-wait", action="store_true")
    ap.add_argument("--wait-minutes", type=float, default=30)
    ap.add_argument("--no-sandbox", action="store_true")
    ap.add_argument("--direction", choices=("up", "down", "both"), default="both",
                    help="timed runs of this direction only (the check pass does both)")
    ap.add_argument("--legs", metavar="SERVER:PROTO,...",
                    help="only these legs, e.g. ferryd:sftp,direct:s3 (names as in results.jsonl)")
    args = ap.parse_args()
    if args.report:
        with open(os.path.join(args.report, "meta.json")) as f:
            meta = json.load(f)
        with open(os.path.join(args.report, "results.jsonl")) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        text = report(rows, meta, rows[0]["bytes"])
        with open(os.path.join(args.report, "report.md"), "w") as f:
            f.write(text)
        print(text)
        return
    if not (args.ferryd_bin and args.rclone_bin and args.garage_bin):
        ap.error("--ferryd-bin, --rclone-bin and --garage-bin are required")
    args.out = args.out or os.path.join(args.work, "results-" + time.strftime("%Y%m%d-%H%M%S"))
    b = Bench(args)
    quiet = True
    try:
        b.setup()
        if not args.no_wait:
            quiet = wait_quiet(args.wait_minutes * 60)
        b.verify()
        if not args.no_wait:
            quiet = wait_quiet(180) and quiet
        b.measure()
    finally:
        b.stop_all()
    b.meta["quiet machine"] = quiet
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(b.meta, f, indent=1)
    with open(os.path.join(args.out, "results.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    text = report(rows, b.meta, b.size)
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(text)
    print(text)
    log(f"results in {args.out}")


if __name__ == "__main__":
    main()
