#!/usr/bin/python3
"""ferryd benchmark: the same real clients against ferryd and the peer servers, interleaved.

Normally started by run.sh, which installs and starts everything. Directly:

  bench.py --out DIR [--quick] [--cases bulk,small,...] [--ferryd-bin B --ferryd-config C]

Needs the peers running (../shared/peers/peers.sh start all), their env file sourced
(BENCH_USER, BENCH_PASS, BENCH_DATA_DIR, BENCH_SSH_KEY, ...), and a ferryd config with the
same user (run.sh writes one). bench.py starts and stops ferryd itself (a fresh process for the
memory and idle-session cases, so their figures do not depend on what ran before).

Every measurement is one JSON line in DIR/results.jsonl; report.py turns that file into the
Markdown report (DIR/report.md). Runs of one case alternate between servers (A B C A B C ...,
the start rotating each round), and the report gives medians, min-max and ferryd's ratio to
each peer measured in this same run.
"""

import argparse
import hashlib
import json
import os
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import procstat

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"  # Debian's, which has python3-asyncssh
LOCAL = "127.0.0.1"
MiB = 1 << 20
GiB = 1 << 30


# ---------------------------------------------------------------- configuration
@dataclass
class Sizes:
    """What one mode moves. The full mode is what the issue specifies."""
    big: int            # bulk transfer file
    bulk_reps: int
    small_files: int    # N x 8 KiB in one session (and N in all over the 8 clients of small8)
    small_reps: int     # of case_small (but see there) and of case_small8
    latency_iters: int
    conc_clients: int
    conc_size: int
    conc_reps: int
    mem_ftps: int       # idle sessions per server for the memory case
    mem_sftp: int
    mem_reps: int
    idle_ftps: int      # the many-idle-sessions case (ferryd only)
    idle_sftp: int
    ceiling_bytes: int
    ceiling_reps: int


FULL = Sizes(big=GiB, bulk_reps=5, small_files=2000, small_reps=2, latency_iters=100,
             conc_clients=32, conc_size=32 * MiB, conc_reps=5, mem_ftps=200, mem_sftp=100,
             mem_reps=2, idle_ftps=5000, idle_sftp=5000, ceiling_bytes=GiB, ceiling_reps=3)
QUICK = Sizes(big=64 * MiB, bulk_reps=1, small_files=200, small_reps=1, latency_iters=10,
              conc_clients=8, conc_size=8 * MiB, conc_reps=1, mem_ftps=20, mem_sftp=10,
              mem_reps=1, idle_ftps=100, idle_sftp=100, ceiling_bytes=256 * MiB,
              ceiling_reps=1)


@dataclass
class Target:
    server: str     # ferryd, vsftpd, proftpd, pure-ftpd, openssh, vsftpd-plain
    proto: str      # ftps (explicit), ftps-implicit, sftp, ftp (plain, reference only)
    port: int
    pid_file: str
    home: str       # the directory the user's "/" maps to, on disk

    def pid(self):
        with open(self.pid_file) as f:
            return int(f.read().strip())


def targets(env, ferryd_home, ferryd_pid_file, ports):
    peer_pid = os.path.dirname(env["BENCH_VSFTPD_FTPS_PID_FILE"])
    data = env["BENCH_DATA_DIR"]

    def peer(server, proto, port, pid_name):
        return Target(server, proto, int(port), os.path.join(peer_pid, pid_name), data)

    return [
        Target("ferryd", "ftps", ports["ftps"], ferryd_pid_file, ferryd_home),
        Target("ferryd", "ftps-implicit", ports["implicit"], ferryd_pid_file, ferryd_home),
        Target("ferryd", "sftp", ports["sftp"], ferryd_pid_file, ferryd_home),
        peer("vsftpd", "ftps", env["BENCH_VSFTPD_FTPS_PORT"], "vsftpd-explicit.pid"),
        peer("vsftpd", "ftps-implicit", env["BENCH_VSFTPD_FTPS_IMPLICIT_PORT"],
             "vsftpd-implicit.pid"),
        peer("proftpd", "ftps", env["BENCH_PROFTPD_FTPS_PORT"], "proftpd-ftps.pid"),
        peer("proftpd", "ftps-implicit", env["BENCH_PROFTPD_FTPS_IMPLICIT_PORT"],
             "proftpd-ftps.pid"),
        peer("proftpd", "sftp", env["BENCH_PROFTPD_SFTP_PORT"], "proftpd-sftp.pid"),
        peer("pure-ftpd", "ftps", env["BENCH_PUREFTPD_FTPS_PORT"], "pure-ftpd.pid"),
        peer("openssh", "sftp", env["BENCH_OPENSSH_SFTP_PORT"], "openssh.pid"),
        peer("vsftpd-plain", "ftp", env["BENCH_VSFTPD_PLAIN_FTP_PORT"], "vsftpd-plain.pid"),
    ]


# ---------------------------------------------------------------- small helpers
def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load1():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 * MiB)
            if not b:
                return h.hexdigest()
            h.update(b)


def sha256_dir(path):
    """One digest over every file's name and content, in name order."""
    h = hashlib.sha256()
    for name in sorted(os.listdir(path)):
        h.update(name.encode() + b"\0")
        with open(os.path.join(path, name), "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def wait_port(port, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((LOCAL, port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def rotate(items, k):
    k %= len(items)
    return items[k:] + items[:k]


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# ---------------------------------------------------------------- ferryd lifecycle
class Ferryd:
    """Starts ferryd from its release binary; stops it by its own PID only."""

    def __init__(self, binary, config, pid_file, log_path, ports):
        self.binary, self.config, self.pid_file = binary, config, pid_file
        self.log_path, self.ports = log_path, ports
        self.proc = None

    def start(self, extra_env=None):
        logf = open(self.log_path, "ab")
        env = dict(os.environ, **(extra_env or {}))
        self.proc = subprocess.Popen([self.binary, "--config", self.config, "serve"],
                                     stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                     start_new_session=True, env=env)
        with open(self.pid_file, "w") as f:
            f.write(str(self.proc.pid))
        for port in self.ports.values():
            if not wait_port(port):
                raise RuntimeError(f"ferryd did not open port {port}; see {self.log_path}")
        time.sleep(0.2)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                log("ferryd did not stop on SIGTERM within 20 s; SIGKILL")
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self, extra_env=None):
        self.stop()
        self.start(extra_env)

    def log_tail(self, n=8):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(max(0, os.path.getsize(self.log_path) - 16384))
                lines = f.read().decode(errors="replace").splitlines()
            return lines[-n:]
        except OSError:
            return []


# ---------------------------------------------------------------- the bench
class Bench:
    def __init__(self, args, env):
        self.args, self.env = args, env
        self.s = QUICK if args.quick else FULL
        self.out = args.out
        self.results = open(os.path.join(self.out, "results.jsonl"), "a")
        self.user, self.key = env["BENCH_USER"], env["BENCH_SSH_KEY"]
        self.work = args.work
        self.client = os.path.join(self.work, "client")
        os.makedirs(self.client, exist_ok=True)
        self.netrc = os.path.join(self.client, "netrc")
        with open(os.open(self.netrc, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(f"machine {LOCAL} login {self.user} password {env['BENCH_PASS']}\n")
        ports = {"ftps": args.ferryd_ftps_port, "implicit": args.ferryd_implicit_port,
                 "sftp": args.ferryd_sftp_port}
        self.ferryd = Ferryd(args.ferryd_bin, args.ferryd_config,
                             os.path.join(self.work, "ferryd.pid"),
                             os.path.join(self.out, "ferryd.log"), ports)
        self.targets = targets(env, args.ferryd_home, self.ferryd.pid_file, ports)
        self.hashes = {}
        self.meters = {}

    def meter(self, target):
        """The CPU/memory meter of the daemon behind target (one per pid file)."""
        pid = target.pid()
        m = self.meters.get(target.pid_file)
        if m is None:
            name = os.path.basename(target.pid_file).removesuffix(".pid")
            m = self.meters[target.pid_file] = procstat.Meter(name, pid)
        elif m.pid != pid:  # ferryd was restarted
            m.attach(pid)
        return m

    def t(self, proto, servers=None):
        """The targets serving proto, ferryd first."""
        return [x for x in self.targets if x.proto == proto
                and (servers is None or x.server in servers)]

    def record(self, **row):
        row.setdefault("load1", load1())
        row["t"] = time.time()
        self.results.write(json.dumps(row) + "\n")
        self.results.flush()

    # ------------------------------------------------------------ data
    def prepare(self):
        """The files served (hard links: one copy in memory for every server) and the
        small files uploaded; leftovers of an earlier run removed."""
        s = self.s
        homes = sorted({x.home for x in self.targets})
        for home in homes:
            os.makedirs(home, exist_ok=True)
            for name in os.listdir(home):
                if name.startswith(("up-", "small-", "verify-")):
                    p = os.path.join(home, name)
                    shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)
        peer_home = self.env["BENCH_DATA_DIR"]
        user = self.user
        for name, size in (("big.bin", s.big), ("mid.bin", s.conc_size)):
            src = os.path.join(peer_home, name)
            if not os.path.exists(src) or os.path.getsize(src) != size:
                log(f"writing {name} ({size // MiB} MiB of random bytes)")
                with open(src + ".tmp", "wb") as f:
                    for _ in range(size // MiB):
                        f.write(os.urandom(MiB))
                os.rename(src + ".tmp", src)
            shutil.chown(src, user, user)
            os.chmod(src, 0o644)
            for home in homes:
                dst = os.path.join(home, name)
                if home != peer_home:
                    if os.path.exists(dst):
                        os.unlink(dst)
                    os.link(src, dst)
            self.hashes[name] = sha256_file(src)
        small = os.path.join(self.client, "small")
        if os.path.isdir(small) and len(os.listdir(small)) != s.small_files:
            shutil.rmtree(small)
        if not os.path.isdir(small):
            os.makedirs(small)
            for i in range(s.small_files):
                with open(os.path.join(small, f"f{i:05d}.bin"), "wb") as f:
                    f.write(os.urandom(8192))
        self.small_src = small
        self.hashes["small"] = sha256_dir(small)
        self.big_src = os.path.join(peer_home, "big.bin")

    def new_dir(self, target, name):
        """A fresh directory in the target's home, owned by the account that server writes
        as (peers: the system user; ferryd: its own service account, root here)."""
        path = os.path.join(target.home, name)
        if os.path.exists(path):
            shutil.rmtree(path)
        os.mkdir(path)
        if target.server != "ferryd":
            shutil.chown(path, self.user, self.user)
        return path

    # ------------------------------------------------------------ client commands
    def lftp_script(self, target, commands, tag=""):
        """lftp running `commands`; clients run at once need their own `tag` (script file)."""
        scheme = "ftps" if target.proto == "ftps-implicit" else "ftp"
        path = os.path.join(self.client, f"lftp{tag}.script")
        # lftp: certificate not verified (self-signed), TLS forced on control and data,
        # no retries (a failure must show), overwrite local files
        text = "\n".join([
            "set ssl:verify-certificate no", "set ftp:ssl-force yes",
            "set ftp:ssl-protect-data yes", "set net:max-retries 1", "set net:timeout 60",
            "set xfer:clobber yes", "set cmd:fail-exit yes",
            f"open -u {self.user},{self.env['BENCH_PASS']} {scheme}://{LOCAL}:{target.port}",
            *commands, "quit", ""])
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(text)
        return ["lftp", "-f", path]

    def curl_cmd(self, target, remote, direction, local):
        if target.proto == "sftp":
            # libssh2 underneath; `/~/` makes the path relative to the login's home on every
            # server (the peers' `/` is the real root). Password from the netrc, as for FTPS;
            # -k skips the host key check, which curl otherwise does against known_hosts.
            url, tls = f"sftp://{LOCAL}:{target.port}/~/{remote}", []
        elif target.proto == "ftps-implicit":
            url, tls = f"ftps://{LOCAL}:{target.port}/{remote}", []
        elif target.proto == "ftp":
            url, tls = f"ftp://{LOCAL}:{target.port}/{remote}", []
        else:
            url, tls = f"ftp://{LOCAL}:{target.port}/{remote}", ["--ssl-reqd"]
        base = ["curl", "-sS", "--fail", "-k", "--netrc-file", self.netrc, *tls]
        if direction == "down":
            return base + ["-o", local, url]
        return base + ["-T", local, url]

    def sftp_cmd(self, target, batch_lines, cipher=None, verbose=False, tag=""):
        """OpenSSH sftp running a batch; clients run at once need their own `tag` (batch
        file)."""
        path = os.path.join(self.client, f"sftp{tag}.batch")
        with open(path, "w") as f:
            f.write("\n".join(batch_lines) + "\n")
        cmd = ["sftp", *([] if verbose else ["-q"]), "-b", path, "-P", str(target.port),
               "-i", self.key,
               "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "BatchMode=yes",
               # ssh keeps the first value given for an option: one LogLevel only
               "-o", "LogLevel=DEBUG1" if verbose else "LogLevel=ERROR"]
        if cipher:
            cmd += ["-c", cipher]
        return cmd + [f"{self.user}@{LOCAL}"]

    def transfer_cmd(self, client, target, direction, remote, local):
        """One client run moving `remote` <-> `local`."""
        if client == "curl":
            return self.curl_cmd(target, remote, direction, local)
        if client == "lftp":
            op = f"get {remote} -o {local}" if direction == "down" else f"put {local} -o {remote}"
            return self.lftp_script(target, [op])
        cipher = "aes128-gcm@openssh.com" if client == "sftp-aesgcm" else None
        op = f"get {remote} {local}" if direction == "down" else f"put {local} {remote}"
        return self.sftp_cmd(target, [op], cipher)

    # ------------------------------------------------------------ one measured run
    def run_measured(self, target, cmd, timeout, label):
        """Run a client (or several, cmd being a list of commands run at once), timing the
        wall clock and the server tree's CPU. Returns (seconds, server_cpu, client_cpu, err)."""
        meter = self.meter(target)
        baseline = set(meter.pids())
        cpu0, ccpu0 = meter.cpu_seconds(), child_cpu()
        cmds = cmd if isinstance(cmd[0], list) else [cmd]
        t0 = time.perf_counter()
        procs = [subprocess.Popen(c, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE) for c in cmds]
        errors = []
        deadline = time.monotonic() + timeout
        for p in procs:
            try:
                _, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                _, err = p.communicate()
                errors.append(f"timeout after {timeout} s")
            if p.returncode != 0:
                errors.append(f"exit {p.returncode}: {err.decode(errors='replace')[-300:]}")
        seconds = time.perf_counter() - t0
        meter.settle(baseline)
        cpu = meter.cpu_seconds() - cpu0
        ccpu = child_cpu() - ccpu0
        err = None
        if errors:
            err = f"{label}: {len(errors)} client(s) failed: {errors[0]}"
            if target.server == "ferryd":
                err += " | ferryd log: " + " / ".join(self.ferryd.log_tail(4))
            log("ERROR " + err)
        return seconds, cpu, ccpu, err

    # ------------------------------------------------------------ cases
    def case_bulk(self):
        """1 GiB download and upload per client / protocol / server."""
        size = self.s.big
        subcases = [("curl", "ftps"), ("curl", "ftps-implicit"), ("lftp", "ftps"),
                    ("lftp", "ftps-implicit"), ("sftp", "sftp"), ("sftp-aesgcm", "sftp"),
                    # curl's sftp:// (libssh2) waits for each write's reply before the
                    # next round, so it shows reply latency that OpenSSH's 64-deep pipeline
                    # hides (TCP_NODELAY, docs/sftp.md)
                    ("curl", "sftp")]
        for client, proto in subcases:
            for direction in ("down", "up"):
                ts = self.t(proto)
                label = f"bulk {client} {proto} {direction}"
                # untimed first pass: checks the bytes (SHA-256) and warms every server
                for x in ts:
                    self.verify_bulk(client, x, direction, label)
                for rep in range(self.s.bulk_reps):
                    for x in rotate(ts, rep):
                        remote, local = "big.bin", "/dev/null"
                        if direction == "up":
                            remote, local = f"up-{x.server}-{rep}.bin", self.big_src
                        cmd = self.transfer_cmd(client, x, direction, remote, local)
                        secs, cpu, ccpu, err = self.run_measured(x, cmd, 180, label)
                        if direction == "up":
                            self.remove(os.path.join(x.home, remote))
                        self.record(case="bulk", client=client, proto=proto, dir=direction,
                                    server=x.server, rep=rep, seconds=secs, bytes=size,
                                    mb_s=size / secs / 1e6, server_cpu=cpu, client_cpu=ccpu,
                                    error=err)
                        log(f"{label} {x.server:9} {size / secs / 1e6:7.1f} MB/s "
                            f"server cpu {cpu:.2f} s")

    def verify_bulk(self, client, x, direction, label):
        if direction == "down":
            local = os.path.join(self.client, "verify.bin")
            cmd = self.transfer_cmd(client, x, "down", "big.bin", local)
            _, _, _, err = self.run_measured(x, cmd, 300, label + " verify")
            ok = err is None and sha256_file(local) == self.hashes["big.bin"]
            self.remove(local)
        else:
            remote = f"up-{x.server}-verify.bin"
            cmd = self.transfer_cmd(client, x, "up", remote, self.big_src)
            _, _, _, err = self.run_measured(x, cmd, 300, label + " verify")
            path = os.path.join(x.home, remote)
            ok = err is None and os.path.exists(path) and \
                sha256_file(path) == self.hashes["big.bin"]
            self.remove(path)
        extra = {}
        if client.startswith("sftp"):
            extra["negotiated"] = self.sftp_cipher(client, x)
        self.record(case="verify", of="bulk", client=client, proto=x.proto, dir=direction,
                    server=x.server, ok=ok, error=err, **extra)
        if not ok:
            log(f"INTEGRITY FAILURE {label} {x.server}: {err}")

    def sftp_cipher(self, client, x):
        """The cipher OpenSSH's client negotiated with this server (from its debug log)."""
        cipher = "aes128-gcm@openssh.com" if client == "sftp-aesgcm" else None
        cmd = self.sftp_cmd(x, ["pwd"], cipher, verbose=True)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        for line in p.stderr.splitlines():
            if "kex: server->client cipher:" in line:
                return line.split("cipher:", 1)[1].split(" compression")[0].strip()
        return "?"

    def remove(self, path):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    # ------------------------------------------------------------ small files
    SMALL8_CLIENTS = 8

    def small_sources(self):
        """What the small-file cases read besides the client's N files, made once per run:
        in every home `small-src/` (the N files, for the one-client downloads),
        `small-srcq/` (the first quarter of them, see case_small) and `small-src8/c<i>/`
        (the i-th eighth); on the client `small-q/` and `small8/c<i>/` (the same subsets:
        the 8-client uploads' sources, and the originals downloads are checked against).
        Subsets are hard links. prepare() removes the homes' copies at the next run
        (their names start with "small-")."""
        if "small8/c0" in self.hashes:
            return
        n, k = self.s.small_files, self.SMALL8_CLIENTS
        names = sorted(os.listdir(self.small_src))
        parts = [names[i * n // k:(i + 1) * n // k] for i in range(k)]
        subsets = [("small-q", "small-srcq", names[:n // 4])]
        subsets += [(f"small8/c{i}", f"small-src8/c{i}", part) for i, part in enumerate(parts)]
        for sub in ("small-q", "small8"):
            shutil.rmtree(os.path.join(self.client, sub), ignore_errors=True)
        for local, _, part in subsets:
            d = os.path.join(self.client, local)
            os.makedirs(d)
            for name in part:
                os.link(os.path.join(self.small_src, name), os.path.join(d, name))
            self.hashes[local] = sha256_dir(d)
        peer_home = self.env["BENCH_DATA_DIR"]
        for home in sorted({x.home for x in self.targets}):
            # the peers serve files as the test user; ferryd reads as its service account
            own = (lambda p: shutil.chown(p, self.user, self.user)) if home == peer_home \
                else (lambda p: None)
            src = os.path.join(home, "small-src")
            shutil.rmtree(src, ignore_errors=True)
            os.mkdir(src)
            own(src)
            for name in names:
                dst = os.path.join(src, name)
                shutil.copyfile(os.path.join(self.small_src, name), dst)
                os.chmod(dst, 0o644)
                own(dst)
            for sub in ("small-srcq", "small-src8"):
                shutil.rmtree(os.path.join(home, sub), ignore_errors=True)
            os.mkdir(os.path.join(home, "small-src8"))
            own(os.path.join(home, "small-src8"))
            for _, remote, part in subsets:
                d = os.path.join(home, remote)
                os.mkdir(d)
                own(d)
                for name in part:
                    os.link(os.path.join(src, name), os.path.join(d, name))

    def local_dir(self, name):
        """A fresh, empty directory on the client side for downloads."""
        path = os.path.join(self.client, name)
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        return path

    def small_cmd(self, client, x, direction, remote, local, names, tag=""):
        """One client session moving every file between the remote directory `remote` and
        the local directory `local` (uploads: from it; downloads: into it, which exists and
        is empty). `names` is the local directory holding the files' originals (ftplib
        downloads take the names from it instead of listing the server's directory)."""
        if client.startswith("ftplib"):
            script = os.path.join(HERE, "ftpcases.py")
            if direction == "up":
                cmd = [PY, script, "small", "--port", str(x.port), "--src", local,
                       "--dest", remote]
                return cmd + (["--nodelay"] if client == "ftplib-nodelay" else [])
            return [PY, script, "small-down", "--port", str(x.port), "--src", remote,
                    "--dest", local, "--names", names]
        if client == "lftp":
            op = [f"mput {local}/*"] if direction == "up" else [f"lcd {local}", "mget *"]
            return self.lftp_script(x, [f"cd {remote}", *op], tag)
        op = [f"put {local}/*"] if direction == "up" else [f"lcd {local}", "get *"]
        return self.sftp_cmd(x, [f"cd {remote}", *op], tag=tag)

    def case_small(self):
        """N x 8 KiB in one session, uploaded and downloaded: ftplib, lftp (mput / mget),
        OpenSSH sftp batch (put / get with a glob). Per run: files/s, and the server's and
        the client's CPU per file (the client's from its rusage, children included)."""
        n, reps = self.s.small_files, self.s.small_reps
        self.small_sources()
        # Two kinds of run wait ~45 ms per file for a delayed ACK (Nagle in the client, the
        # server's delayed ACK), which costs wall time but no CPU: plain ftplib uploads on
        # some servers (its close_notify after the data) and lftp downloads on every server
        # (its ChangeCipherSpec and Finished in two writes). Each moves a quarter of the
        # files, once (2,000 lftp downloads would take 110 s per server); the CPU per file
        # does not depend on the count beyond the login's share.
        # ftplib-nodelay: a diagnostic variant (TCP_NODELAY on the client's data sockets),
        # which removes ftplib's upload stall (see docs/performance.md) and so shows each
        # server's own per-file cost; downloads do not have it, so it only uploads.
        plan = [("ftplib", "ftps", "up", 1, "small-q"), ("ftplib", "ftps", "down", reps, "small"),
                ("ftplib-nodelay", "ftps", "up", reps, "small"),
                ("lftp", "ftps", "up", reps, "small"), ("lftp", "ftps", "down", 1, "small-q"),
                ("sftp", "sftp", "up", reps, "small"), ("sftp", "sftp", "down", reps, "small")]
        for client, proto, direction, reps, files in plan:
            ts = self.t(proto)
            label = f"small {client} {direction}"
            originals = os.path.join(self.client, files)
            n = len(os.listdir(originals))
            for rep in range(reps):
                for x in rotate(ts, rep):
                    # `check`: where the files arrive, compared with the originals after
                    if direction == "up":
                        remote, local = f"small-{x.server}-{rep}", originals
                        check = self.new_dir(x, remote)
                    else:
                        remote = "small-src" if files == "small" else "small-srcq"
                        local = check = self.local_dir("down")
                    cmd = self.small_cmd(client, x, direction, remote, local, originals)
                    inner = None
                    if client.startswith("ftplib"):
                        secs, cpu, ccpu, err, inner = self.run_json(x, cmd, 600, label)
                    else:
                        secs, cpu, ccpu, err = self.run_measured(x, cmd, 600, label)
                    # files/s over the transfer loop where the client times it in-process
                    # (ftplib), otherwise over the whole client run (login included)
                    loop = inner.get("loop_s") if inner else None
                    basis = loop if loop else secs
                    ok = err is None and sha256_dir(check) == self.hashes[files]
                    shutil.rmtree(check)
                    self.record(case="small", client=client, proto=proto, dir=direction,
                                server=x.server, rep=rep, seconds=secs, loop_s=loop, files=n,
                                files_s=n / basis, server_cpu=cpu, client_cpu=ccpu,
                                ok=ok, error=err,
                                file_ms=inner.get("file_ms_p10_50_90") if inner else None,
                                stalls=inner.get("files_over_30ms") if inner else None)
                    log(f"{label} {x.server:9} {n / basis:7.1f} files/s, CPU ms/file server "
                        f"{cpu / n * 1000:.2f} client {ccpu / n * 1000:.2f}, sha256 "
                        f"{'ok' if ok else 'MISMATCH'}")

    def case_small8(self):
        """8 clients at once, each moving its own eighth of the N x 8 KiB files in its own
        session (N files in all, as in case_small), uploads and downloads: ftplib, lftp,
        OpenSSH sftp. Aggregate files/s over the wall time from the first client's start to
        the last one's exit (logins included); server and client CPU per file."""
        n, k = self.s.small_files, self.SMALL8_CLIENTS
        self.small_sources()
        local8 = os.path.join(self.client, "small8")
        for client, proto in (("ftplib", "ftps"), ("lftp", "ftps"), ("sftp", "sftp")):
            ts = self.t(proto)
            for direction in ("up", "down"):
                label = f"small8 {client} {direction}"
                for rep in range(self.s.small_reps):
                    for x in rotate(ts, rep):
                        top_name = f"small-8-{x.server}-{rep}"
                        top = self.new_dir(x, top_name) if direction == "up" \
                            else self.local_dir("down8")
                        cmds, checks = [], []
                        for i in range(k):
                            names = os.path.join(local8, f"c{i}")
                            if direction == "up":
                                remote, local = f"{top_name}/c{i}", names
                                check = self.new_dir(x, remote)
                            else:
                                remote, local = f"small-src8/c{i}", os.path.join(top, f"c{i}")
                                os.mkdir(local)
                                check = local
                            checks.append(check)
                            cmds.append(self.small_cmd(client, x, direction, remote, local,
                                                       names, tag=f"-{i}"))
                        secs, cpu, ccpu, err = self.run_measured(x, cmds, 600, label)
                        ok = err is None and all(sha256_dir(d) == self.hashes[f"small8/c{i}"]
                                                 for i, d in enumerate(checks))
                        shutil.rmtree(top)
                        self.record(case="small8", client=client, proto=proto, dir=direction,
                                    server=x.server, rep=rep, clients=k, seconds=secs, files=n,
                                    files_s=n / secs, server_cpu=cpu, client_cpu=ccpu, ok=ok,
                                    error=err)
                        log(f"{label} {x.server:9} {n / secs:7.1f} files/s, CPU ms/file "
                            f"server {cpu / n * 1000:.2f} client {ccpu / n * 1000:.2f}, "
                            f"sha256 {'ok' if ok else 'MISMATCH'}")

    def run_json(self, target, cmd, timeout, label):
        """run_measured for a helper that prints one JSON object."""
        out = os.path.join(self.client, "helper.json")
        wrapped = ["sh", "-c", '"$@" > ' + out, "sh", *cmd]
        secs, cpu, ccpu, err = self.run_measured(target, wrapped, timeout, label)
        inner = None
        if err is None:
            with open(out) as f:
                inner = json.loads(f.read())
        return secs, cpu, ccpu, err, inner

    def case_latency(self):
        """connect + AUTH TLS + login + PROT P + LIST + QUIT, in-process (ftplib)."""
        ts = self.t("ftps")
        spec = ",".join(f"{x.server}={x.port}" for x in ts)
        cmd = [PY, os.path.join(HERE, "ftpcases.py"), "latency", "--targets", spec,
               "--iterations", str(self.s.latency_iters)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if p.returncode != 0:
            self.record(case="latency", error=p.stderr[-500:])
            log("ERROR latency: " + p.stderr[-500:])
            return
        res = json.loads(p.stdout)
        for server, values in res["ms"].items():
            self.record(case="latency", server=server, ms=values,
                        entries=res["entries"].get(server), phases_ms=res["phases_ms"][server])
            log(f"latency {server:9} median {sorted(values)[len(values) // 2]:.1f} ms")

    def case_enumeration(self):
        """Failed-login timing, existing user vs unknown user, on ferryd (benches/enumeration.py)."""
        ftps, sftp = self.t("ftps", ["ferryd"])[0], self.t("sftp", ["ferryd"])[0]
        cmd = [PY, os.path.join(HERE, "enumeration.py"), "--ftps-port", str(ftps.port),
               "--sftp-port", str(sftp.port), "--iterations", str(self.s.latency_iters)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if p.returncode != 0:
            self.record(case="enumeration", error=p.stderr[-500:])
            log("ERROR enumeration: " + p.stderr[-500:])
            return
        for proto, r in json.loads(p.stdout).items():
            self.record(case="enumeration", proto=proto, **r)
            log(f"enumeration {proto}: existing {r['median_known_ms']:.1f} ms, unknown "
                f"{r['median_unknown_ms']:.1f} ms, p = {r['p_value']:.2f}")

    def case_concurrent(self):
        """C clients at once, each downloading the S MiB file; aggregate MB/s."""
        c, size = self.s.conc_clients, self.s.conc_size
        for client, proto in (("curl", "ftps"), ("sftp", "sftp")):
            ts = self.t(proto)
            label = f"concurrent {client}"
            for x in ts:  # untimed pass with every output checked
                outs = [os.path.join(self.client, f"c{i}.bin") for i in range(c)]
                if client == "sftp":
                    cmds = [self.sftp_cmd_at(x, f"get mid.bin {o}", i) for i, o in
                            enumerate(outs)]
                else:
                    cmds = [self.transfer_cmd(client, x, "down", "mid.bin", o) for o in outs]
                _, _, _, err = self.run_measured(x, cmds, 600, label + " verify")
                ok = err is None and all(sha256_file(o) == self.hashes["mid.bin"]
                                         for o in outs)
                for o in outs:
                    self.remove(o)
                self.record(case="verify", of="concurrent", client=client, proto=proto,
                            server=x.server, ok=ok, error=err)
            for rep in range(self.s.conc_reps):
                for x in rotate(ts, rep):
                    if client == "sftp":
                        cmds = [self.sftp_cmd_at(x, "get mid.bin /dev/null", i)
                                for i in range(c)]
                    else:
                        cmds = [self.transfer_cmd(client, x, "down", "mid.bin", "/dev/null")
                                for _ in range(c)]
                    secs, cpu, ccpu, err = self.run_measured(x, cmds, 600, label)
                    total = c * size
                    self.record(case="concurrent", client=client, proto=proto,
                                server=x.server, rep=rep, seconds=secs, bytes=total,
                                clients=c, mb_s=total / secs / 1e6, server_cpu=cpu,
                                client_cpu=ccpu, error=err)
                    log(f"{label} {x.server:9} {total / secs / 1e6:7.1f} MB/s aggregate")

    def sftp_cmd_at(self, target, line, i):
        """sftp with its own batch file (concurrent clients must not share one)."""
        return self.sftp_cmd(target, [line], tag=f"-{i}")

    def start_holder(self, target, ftps, sftp, concurrency):
        """Start idle_sessions.py (it opens its sessions, then reports 'ready')."""
        cmd = [PY, os.path.join(HERE, "idle_sessions.py"), "--concurrency", str(concurrency)]
        if ftps:
            cmd += ["--ftps-port", str(target["ftps"].port), "--ftps", str(ftps)]
        if sftp:
            cmd += ["--sftp-port", str(target["sftp"].port), "--sftp", str(sftp)]
        return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True, env=self.env)

    def wait_ready(self, holders, watch_pid=None, cap_kib=None):
        """Wait for every holder's 'ready' report. While waiting, watch ferryd's RSS: if it
        passes cap_kib the holders are killed (the machine is shared; an out-of-memory
        kill would hit other people's work) and None is returned."""
        ready = {}
        while len(ready) < len(holders):
            waiting = [h for h in holders if h not in ready]
            readable, _, _ = select.select([h.stdout for h in waiting], [], [], 1.0)
            for h in waiting:
                if h.stdout in readable:
                    line = h.stdout.readline()
                    ready[h] = json.loads(line) if line else None
            if watch_pid and cap_kib and procstat.rollup(watch_pid)["Rss"] > cap_kib:
                log(f"ferryd RSS passed {cap_kib >> 20} GiB while sessions opened; stopping")
                for h in holders:
                    h.kill()
                    h.wait()
                return None
        return [ready[h] for h in holders]

    def hold_sessions(self, target, ftps, sftp, concurrency):
        """Open sessions and wait until they are open: (holder process, 'ready' report)."""
        p = self.start_holder(target, ftps, sftp, concurrency)
        return p, self.wait_ready([p])[0]

    @staticmethod
    def holder_cmd(p, cmd):
        p.stdin.write(cmd + "\n")
        p.stdin.flush()
        return json.loads(p.stdout.readline())

    @staticmethod
    def holder_close(p):
        try:
            Bench.holder_cmd(p, "quit")
            p.wait(120)
        except Exception:
            p.kill()
            p.wait()

    def case_memory(self):
        """Server memory per idle logged-in session: ferryd RSS/PSS, peers' tree PSS.

        Measured as a slope: memory with N/2 sessions open, then with N; the difference over
        the second N/2 sessions is what one more session costs. The delta from no sessions
        is recorded too ("from zero"): for ferryd it also holds one-time allocations that
        do not grow with sessions, mostly the argon2 working-memory pool (19 MiB per
        concurrent login, at most 4). ferryd is restarted before each of its measurements.
        """
        for proto, n in (("ftps", self.s.mem_ftps), ("sftp", self.s.mem_sftp)):
            ts = self.t(proto)
            half = n // 2
            for rep in range(self.s.mem_reps):
                for x in rotate(ts, rep):
                    if x.server == "ferryd":
                        self.ferryd.restart()
                    meter = self.meter(x)
                    meter.settle({x.pid()}, timeout=10)
                    rss0, pss0, n0 = meter.memory_kib()
                    counts = (half if proto == "ftps" else 0, half if proto == "sftp" else 0)
                    first, ready1 = self.hold_sessions({proto: x}, *counts, 8)
                    time.sleep(1.0)
                    rss1, pss1, n1 = meter.memory_kib()
                    second, ready2 = self.hold_sessions({proto: x}, *counts, 8)
                    check1 = self.holder_cmd(first, "check")
                    time.sleep(1.0)
                    rss2, pss2, n2 = meter.memory_kib()
                    check2 = self.holder_cmd(second, "check")
                    self.holder_close(first)
                    self.holder_close(second)
                    n_first, n_second = ready1[f"{proto}_ok"], ready2[f"{proto}_ok"]
                    alive = check1[f"{proto}_alive"] + check2[f"{proto}_alive"]
                    self.record(case="memory", proto=proto, server=x.server, rep=rep,
                                sessions=n_first + n_second, alive=alive,
                                failed=ready1[f"{proto}_failed"] + ready2[f"{proto}_failed"],
                                rss_kib=[rss0, rss1, rss2], pss_kib=[pss0, pss1, pss2],
                                procs=[n0, n1, n2],
                                rss_per_session_kib=(rss2 - rss1) / max(n_second, 1),
                                pss_per_session_kib=(pss2 - pss1) / max(n_second, 1),
                                rss_from_zero_kib=(rss2 - rss0) / max(n_first + n_second, 1),
                                pss_from_zero_kib=(pss2 - pss0) / max(n_first + n_second, 1),
                                errors={**ready1["errors"], **ready2["errors"]})
                    log(f"memory {proto} {x.server:9} {n_first}+{n_second} sessions "
                        f"({alive} alive): PSS {(pss2 - pss1) / max(n_second, 1):.0f} "
                        f"KiB/session (from zero {(pss2 - pss0) / max(n_first + n_second, 1):.0f}"
                        f"), RSS {(rss2 - rss1) / max(n_second, 1):.0f} KiB/session")
        self.ferryd.restart()

    def case_idle(self):
        """Many idle sessions on ferryd (half FTPS, half SFTP), while a normal client works."""
        self.ferryd.restart()
        ftps, sftp = self.t("ftps", ["ferryd"])[0], self.t("sftp", ["ferryd"])[0]
        pid = ftps.pid()
        before = self.normal_client_latency(ftps, sftp, "unloaded")
        mem0 = procstat.rollup(pid)
        t0 = time.monotonic()
        # two holder processes (FTPS, SFTP) opening at the same time, each on its own core
        hf = self.start_holder({"ftps": ftps}, self.s.idle_ftps, 0, 16)
        hs = self.start_holder({"sftp": sftp}, 0, self.s.idle_sftp, 32)
        with open("/proc/meminfo") as f:
            total_kib = int(f.readline().split()[1])
        cap = min(8 << 20, total_kib // 3)  # KiB: 8 GiB or a third of the memory
        reports = self.wait_ready([hf, hs], pid, cap)
        opened = time.monotonic() - t0
        if reports is None:
            self.record(case="idle", error=f"aborted: ferryd RSS over {cap >> 20} GiB")
            self.ferryd.restart()
            return
        rf, rs = reports
        mem1 = procstat.rollup(pid)
        threads, fds = procstat.status_field(pid, "Threads"), procstat.fd_count(pid)
        meter = self.meter(ftps)
        cpu0 = meter.cpu_seconds()
        time.sleep(10)  # what do 10k idle sessions cost the server per second?
        idle_cpu = (meter.cpu_seconds() - cpu0) / 10
        during = self.normal_client_latency(ftps, sftp, "loaded")
        cf, cs = self.holder_cmd(hf, "check"), self.holder_cmd(hs, "check")
        held = rf["ftps_ok"] + rs["sftp_ok"]
        fd_limit = self.fd_limit(pid)
        headroom = None
        if fd_limit and fds > fd_limit - 100:
            # ferryd ran out of descriptors: give 200 FTPS sessions back and measure the
            # normal client again, to separate "no descriptor left" from "slow under load"
            dropped = self.holder_cmd(hf, "drop 200")
            headroom = self.normal_client_latency(ftps, sftp, "loaded, 200 sessions fewer")
            headroom["sessions"] = dropped["ftps"] + rs["sftp_ok"]
        self.record(case="idle", ftps_ok=rf["ftps_ok"], ftps_failed=rf["ftps_failed"],
                    sftp_ok=rs["sftp_ok"], sftp_failed=rs["sftp_failed"],
                    ftps_alive=cf["ftps_alive"], sftp_alive=cs["sftp_alive"],
                    open_seconds=opened, check_seconds=[cf["seconds"], cs["seconds"]],
                    rss_kib=[mem0["Rss"], mem1["Rss"]], pss_kib=[mem0["Pss"], mem1["Pss"]],
                    per_session_kib=(mem1["Rss"] - mem0["Rss"]) / max(held, 1),
                    threads=threads, fds=fds, fd_limit=fd_limit, headroom=headroom,
                    idle_cpu_per_s=idle_cpu,
                    errors={**rf["errors"], **rs["errors"]},
                    unloaded=before, loaded=during)
        log(f"idle: held {rf['ftps_ok']} FTPS + {rs['sftp_ok']} SFTP "
            f"({cf['ftps_alive']} + {cs['sftp_alive']} alive at the end); ferryd RSS "
            f"{mem1['Rss'] / 1024:.0f} MiB, {threads} threads, {fds} fds; latency "
            f"ftplib {before['ftplib_ms']:.1f} -> {during['ftplib_ms']:.1f} ms, sftp "
            f"{before['sftp_ms']:.1f} -> {during['sftp_ms']:.1f} ms")
        self.holder_close(hf)
        self.holder_close(hs)
        self.ferryd.restart()  # leave a small process behind for anything that follows

    @staticmethod
    def fd_limit(pid):
        """ferryd's soft limit on open files (from /proc/<pid>/limits)."""
        with open(f"/proc/{pid}/limits") as f:
            for line in f:
                if line.startswith("Max open files"):
                    return int(line.split()[3])
        return None

    def normal_client_latency(self, ftps, sftp, label):
        """Median ftplib login+LIST (in-process) and OpenSSH `sftp` ls (whole process)."""
        n = max(5, self.s.latency_iters // 5)
        p = subprocess.run([PY, os.path.join(HERE, "ftpcases.py"), "latency", "--targets",
                            f"ferryd={ftps.port}", "--iterations", str(n)],
                           capture_output=True, text=True, timeout=900)
        ftp_ms = json.loads(p.stdout)["ms"]["ferryd"] if p.returncode == 0 else []
        sftp_ms = []
        for _ in range(n):
            cmd = self.sftp_cmd(sftp, ["ls"])
            t0 = time.perf_counter()
            r = subprocess.run(cmd, capture_output=True, timeout=300)
            if r.returncode == 0:
                sftp_ms.append((time.perf_counter() - t0) * 1000)
        med = lambda v: sorted(v)[len(v) // 2] if v else float("nan")  # noqa: E731
        return {"ftplib_ms": med(ftp_ms), "sftp_ms": med(sftp_ms), "ftplib_all": ftp_ms,
                "sftp_all": sftp_ms, "ftplib_failed": n - len(ftp_ms),
                "sftp_failed": n - len(sftp_ms), "label": label}

    def case_ceilings(self):
        """What the machine can do at most: cipher speed, a raw TLS stream, a raw SSH
        channel (OpenSSH), and plain FTP (no TLS) from vsftpd."""
        for cipher in ("aes-128-gcm", "aes-256-gcm", "chacha20-poly1305"):
            p = subprocess.run(["openssl", "speed", "-seconds", "2", "-bytes", "16384",
                                "-evp", cipher], capture_output=True, text=True)
            last = p.stdout.strip().splitlines()[-1].split()
            kbs = float(last[-1].rstrip("k"))
            self.record(case="ceiling", what=f"openssl speed {cipher} (16 KiB, 1 core)",
                        mb_s=kbs * 1000 / 1e6)
        # the peers' certificate (RSA 2048), which ferryd's config uses too
        run_dir = os.path.dirname(os.path.dirname(self.env["BENCH_VSFTPD_FTPS_PID_FILE"]))
        tls = os.path.join(run_dir, "tls")
        openssh = self.t("sftp", ["openssh"])[0]
        plain = self.t("ftp", ["vsftpd-plain"])[0]
        n = self.s.ceiling_bytes
        src = self.big_src
        for rep in range(self.s.ceiling_reps):
            crt, key = os.path.join(tls, "server.crt"), os.path.join(tls, "server.key")
            tools = []
            # the C tool (compiled by run.sh when a compiler is there) is the real ceiling;
            # the Python one is a fallback and reads lower (see tls_stream.c)
            c_tool = os.path.join(self.work, "tls_stream")
            if os.access(c_tool, os.X_OK):
                tools.append(("C, a write(2) per record",
                              lambda v: [c_tool, crt, key, str(n), v, "plain"]))
                tools.append(("C, batched records",
                              lambda v: [c_tool, crt, key, str(n), v, "batched"]))
            tools.append(("Python", lambda v: [PY, os.path.join(HERE, "tls_stream.py"),
                                               "--cert", crt, "--key", key, "--bytes",
                                               str(n), "--tls", v]))
            for tool, make in tools:
                for tls_ver in ("1.3", "1.2"):
                    p = subprocess.run(make(tls_ver), capture_output=True, text=True,
                                       timeout=300)
                    if p.returncode == 0:
                        r = json.loads(p.stdout)
                        self.record(case="ceiling", what=f"raw TLS {r['version']} stream "
                                    f"{r['cipher']} ({tool} + OpenSSL, 2 processes)",
                                    mb_s=r["mb_s"], rep=rep)
                    else:
                        self.record(case="ceiling", what=f"raw TLS stream ({tool})",
                                    error=p.stderr[-300:])
            for cipher in (None, "aes128-gcm@openssh.com"):
                for direction in ("up", "down"):
                    ssh = ["ssh", "-p", str(openssh.port), "-i", self.key,
                           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                           "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"]
                    if cipher:
                        ssh += ["-c", cipher]
                    ssh.append(f"{self.user}@{LOCAL}")
                    # shell redirections do the copying: stdin/stdout of ssh are the file
                    # and /dev/null, so only the SSH channel is measured
                    if direction == "up":
                        cmd = ["sh", "-c", '"$@" "cat > /dev/null" < ' + src, "sh", *ssh]
                    else:
                        cmd = ["sh", "-c", '"$@" "cat ' + os.path.basename(src) +
                               '" > /dev/null', "sh", *ssh]
                    size = os.path.getsize(src)
                    secs, cpu, ccpu, err = self.run_measured(openssh, cmd, 300, "ssh channel")
                    self.record(case="ceiling", what=f"raw SSH channel {direction}load "
                                f"({cipher or 'default cipher'}), OpenSSH, `cat`",
                                mb_s=size / secs / 1e6, server_cpu_per_gib=cpu / (size / GiB),
                                rep=rep, error=err)
            cmd = self.curl_cmd(plain, "big.bin", "down", "/dev/null")
            size = os.path.getsize(src)
            secs, cpu, ccpu, err = self.run_measured(plain, cmd, 300, "plain ftp")
            self.record(case="ceiling", what="plain FTP download, no TLS (vsftpd, sendfile; "
                        "curl)", mb_s=size / secs / 1e6,
                        server_cpu_per_gib=cpu / (size / GiB), rep=rep, error=err)
        log("ceilings done")


    def case_profile(self):
        """perf profiles of ferryd during the cases it is short in (opt-in: --profile).

        `perf record -e cpu-clock` sampling ferryd's process only, flat (self time per
        symbol; release builds carry symbols), written to DIR/profile-<name>.txt.
        """
        ftps, sftp = self.t("ftps", ["ferryd"])[0], self.t("sftp", ["ferryd"])[0]
        small = os.path.join(self.client, "small")
        scenarios = [
            ("curl-ftps-download", lambda: self.transfer_cmd("curl", ftps, "down", "big.bin",
                                                             "/dev/null")),
            ("curl-ftps-upload", lambda: self.transfer_cmd("curl", ftps, "up", "up-prof.bin",
                                                           self.big_src)),
            ("lftp-ftps-download", lambda: self.transfer_cmd("lftp", ftps, "down", "big.bin",
                                                             "/dev/null")),
            ("sftp-download", lambda: self.transfer_cmd("sftp", sftp, "down", "big.bin",
                                                        "/dev/null")),
            ("sftp-upload", lambda: self.transfer_cmd("sftp", sftp, "up", "up-prof.bin",
                                                      self.big_src)),
            ("sftp-aesgcm-download", lambda: self.transfer_cmd("sftp-aesgcm", sftp, "down",
                                                               "big.bin", "/dev/null")),
            ("sftp-aesgcm-upload", lambda: self.transfer_cmd("sftp-aesgcm", sftp, "up",
                                                             "up-prof.bin", self.big_src)),
            ("lftp-small", lambda: self.lftp_script(ftps, ["cd small-prof",
                                                           f"mput {small}/*"])),
            ("sftp-small", lambda: self.sftp_cmd(sftp, ["cd small-prof", f"put {small}/*"])),
            ("ftplib-small", lambda: [PY, os.path.join(HERE, "ftpcases.py"), "small",
                                      "--port", str(ftps.port), "--src", small,
                                      "--dest", "small-prof"]),
            ("ftplib-login-list", lambda: [PY, os.path.join(HERE, "ftpcases.py"), "latency",
                                           "--targets", f"ferryd={ftps.port}",
                                           "--iterations", "30"]),
        ]
        pid = ftps.pid()
        for name, make in scenarios:
            self.new_dir(ftps, "small-prof")
            data = os.path.join(self.work, f"perf-{name}.data")
            perf = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "999", "-p",
                                     str(pid), "-o", data, "--quiet"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            secs, cpu, _, err = self.run_measured(ftps, make(), 600, f"profile {name}")
            perf.send_signal(signal.SIGINT)
            perf.wait(60)
            out = os.path.join(self.out, f"profile-{name}.txt")
            with open(out, "w") as f:
                f.write(f"# {name}: {secs:.2f} s wall, ferryd CPU {cpu:.2f} s\n")
                f.flush()
                subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                                "--sort", "dso,sym", "--percent-limit", "0.5"],
                               stdout=f, stderr=subprocess.DEVNULL)
            self.record(case="profile", name=name, seconds=secs, server_cpu=cpu,
                        file=os.path.basename(out), error=err)
            self.remove(data)
            self.remove(os.path.join(ftps.home, "up-prof.bin"))
            shutil.rmtree(os.path.join(ftps.home, "small-prof"), ignore_errors=True)
            log(f"profile {name}: {secs:.2f} s, ferryd CPU {cpu:.2f} s -> {out}")


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except Exception as e:  # a missing tool must not stop the benchmark
        return f"? ({e})"


def machine_meta(args, sizes):
    """What the report says about the machine and the software measured."""
    peers_root = os.environ.get("PEERS_ROOT", "/opt/peers/root")
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "nproc": sh("nproc"),
        "cpu": sh("lscpu | sed -n 's/^Model name: *//p'"),
        "kernel": sh("uname -r"),
        "memory": sh("free -g | awk '/^Mem:/ {print $2 \" GiB\"}'"),
        "hypervisor": sh("lscpu | sed -n 's/^Hypervisor vendor: *//p'"),
        "load_at_start": sh("cat /proc/loadavg"),
        "quick": args.quick,
        "sizes": sizes.__dict__,
        "ferryd": sh(f"{args.ferryd_bin} --version") + " @ " +
        sh(f"git -C {HERE}/.. rev-parse --short HEAD") +
        (" (+ uncommitted changes)" if sh(f"git -C {HERE}/.. status --porcelain "
                                          "--untracked-files=no") else ""),
        "vsftpd": sh("dpkg-query -W -f='${Version}' vsftpd"),
        "proftpd": sh(f"LD_LIBRARY_PATH={peers_root}/usr/lib {peers_root}/usr/sbin/proftpd -v"),
        "pure-ftpd": sh(f"{peers_root}/usr/sbin/pure-ftpd --help 2>&1 | head -n 1"),
        "openssh": sh("ssh -V 2>&1"),
        "curl": sh("curl --version | head -n 1"),
        "lftp": sh("lftp --version | head -n 1"),
        "python": sh(f"{PY} -c 'import ssl, sys; print(sys.version.split()[0], "
                     "ssl.OPENSSL_VERSION)'"),
        "openssl": sh("openssl version"),
    }


CASES = ["ceilings", "latency", "enumeration", "memory", "bulk", "small", "small8", "concurrent",
         "idle", "profile"]
DEFAULT_CASES = CASES[:-1]  # profiles only on request


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="results directory")
    ap.add_argument("--work", default="/dev/shm/ferryd-bench", help="tmpfs work directory")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cases", default=",".join(DEFAULT_CASES))
    ap.add_argument("--ferryd-bin", required=True)
    ap.add_argument("--ferryd-config", required=True)
    ap.add_argument("--ferryd-home", required=True, help="the bench user's home on disk")
    ap.add_argument("--ferryd-ftps-port", type=int, default=23021)
    ap.add_argument("--ferryd-implicit-port", type=int, default=23990)
    ap.add_argument("--ferryd-sftp-port", type=int, default=23022)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    # 10,000 sessions: one socket each in ferryd and in the client, plus passive listeners
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    env = dict(os.environ)
    bench = Bench(args, env)
    cases = [c for c in args.cases.split(",") if c]
    unknown = set(cases) - set(CASES)
    if unknown:
        sys.exit(f"unknown case(s): {', '.join(sorted(unknown))}; known: {', '.join(CASES)}")
    meta = os.path.join(args.out, "meta.json")
    if not os.path.exists(meta):  # a re-run of some cases into the same directory keeps it
        with open(meta, "w") as f:
            json.dump(machine_meta(args, bench.s), f, indent=1)
    bench.prepare()
    bench.ferryd.start()
    try:
        for case in CASES:
            if case in cases:
                log(f"== case {case} (load {load1():.2f})")
                bench.record(case="case-start", name=case)
                getattr(bench, f"case_{case}")()
    finally:
        bench.ferryd.stop()
        bench.record(case="cpu-method", methods={m.name: m.method
                                                 for m in bench.meters.values()})
        for m in bench.meters.values():
            m.close()
    log("done")


if __name__ == "__main__":
    main()
