#!/usr/bin/env python3
"""A/B of two ferryd binaries on the upload/download paths, interleaved, with server CPU.

    benches/ab.py BEFORE_BINARY AFTER_BINARY
    env: REPS (3), BIG_MIB (512), CASES (comma-separated case names; default all)

Both daemons run side by side on tmpfs (/dev/shm/ab) with their own ports; every case runs
REPS times per binary in the order A B, B A, ... and the report gives medians of the client's
wall time and of the server's CPU time (utime + stime from /proc/PID/stat). Needs curl and
OpenSSH's sftp; runs as any user (no peers involved: use run.sh for those).
"""
import os, subprocess, sys, time, shutil, statistics, json

if len(sys.argv) != 3:
    sys.exit(__doc__)
BINS = {"before": sys.argv[1], "after": sys.argv[2]}
WORK = "/dev/shm/ab"
PASS = "benchpass-123"
REPS = int(os.environ.get("REPS", "3"))
BIG = int(os.environ.get("BIG_MIB", "512"))

def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, capture_output=True, text=True, **kw)

def ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])

def setup(name):
    d = f"{WORK}/{name}"
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    cfg = f"{d}/ferryd.toml"
    with open(cfg, "w") as f:
        f.write(f"""[server]
data_dir = "{d}/data"
state_dir = "{d}/state"
[ftps]
listen = "127.0.0.1:0"
implicit_listen = "127.0.0.1:0"
passive_ports = "{'45000-45099' if name == 'before' else '45100-45199'}"
[sftp]
listen = "127.0.0.1:0"
[defender]
enabled = false
""")
    b = BINS[name]
    subprocess.run([b, "--config", cfg, "user", "add", "bench", "--password-stdin"], input=PASS + "\n", text=True, check=True, capture_output=True)
    pub = open(f"{WORK}/key.pub").read().strip()
    subprocess.run([b, "--config", cfg, "user", "key", "add", "bench", pub], check=True, capture_output=True)
    log = open(f"{d}/log", "w")
    p = subprocess.Popen([b, "--config", cfg, "serve"], stdout=log, stderr=subprocess.STDOUT)
    ports = []
    for _ in range(200):
        time.sleep(0.05)
        text = open(f"{d}/log").read()
        ports = [l.split("address=")[1].split()[0] for l in text.splitlines() if " listening " in l and "address=" in l]
        if len(ports) >= 3:
            break
    return {"proc": p, "dir": d, "ftps": ports[0], "sftp": ports[2]}

SSH = f"-i {WORK}/key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR"

def cases(s):
    ftps, sftp = s["ftps"], s["sftp"]
    port = sftp.rsplit(":", 1)[1]
    return {
        "curl ftps up": f"curl -sS -k --ssl-reqd -u bench:{PASS} -T {WORK}/big ftp://{ftps}/big",
        "curl ftps down": f"curl -sS -k --ssl-reqd -u bench:{PASS} -o /dev/null ftp://{ftps}/big",
        "sftp up": f"sftp {SSH} -P {port} -b {WORK}/put.batch bench@127.0.0.1",
        "sftp down": f"sftp {SSH} -P {port} -b {WORK}/get.batch bench@127.0.0.1",
        "sftp 500x8KiB up": f"sftp {SSH} -P {port} -b {WORK}/small.batch bench@127.0.0.1",
        "curl sftp up": f"curl -sS -k -u bench:{PASS} -T {WORK}/big sftp://{sftp}/~/big2",
    }

def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(f"{WORK}/small")
    sh(f"ssh-keygen -q -t ed25519 -N '' -f {WORK}/key")
    sh(f"head -c {BIG}M /dev/urandom > {WORK}/big")
    for i in range(500):
        with open(f"{WORK}/small/f{i:03}", "wb") as f:
            f.write(os.urandom(8192))
    open(f"{WORK}/put.batch", "w").write(f"put {WORK}/big /big\n")
    open(f"{WORK}/get.batch", "w").write(f"get /big /dev/null\n")
    open(f"{WORK}/small.batch", "w").write(f"-mkdir /s\nput {WORK}/small/* /s/\n")
    servers = {n: setup(n) for n in BINS}
    results = {}
    try:
        names = list(cases(servers["before"]).keys())
        wanted = os.environ.get("CASES")
        if wanted:
            names = [n for n in names if n in wanted.split(",")]
        for case in names:
            for rep in range(REPS):
                order = ["before", "after"] if rep % 2 == 0 else ["after", "before"]
                for n in order:
                    s = servers[n]
                    cmd = cases(s)[case]
                    t0 = ticks(s["proc"].pid); w0 = time.perf_counter()
                    subprocess.run(cmd, shell=True, check=True, capture_output=True)
                    w1 = time.perf_counter(); t1 = ticks(s["proc"].pid)
                    results.setdefault(case, {}).setdefault(n, []).append((w1 - w0, (t1 - t0) / os.sysconf("SC_CLK_TCK")))
    finally:
        for s in servers.values():
            s["proc"].terminate()
    print(f"{'case':20} {'before s':>9} {'after s':>9} {'after/before':>12} {'cpu before':>10} {'cpu after':>10}")
    for case, r in results.items():
        b = statistics.median(x[0] for x in r["before"]); a = statistics.median(x[0] for x in r["after"])
        cb = statistics.median(x[1] for x in r["before"]); ca = statistics.median(x[1] for x in r["after"])
        print(f"{case:20} {b:9.3f} {a:9.3f} {a/b:12.2f} {cb:10.2f} {ca:10.2f}")
    json.dump(results, open(f"{WORK}/results-{int(time.time())}.json", "w"))

main()
