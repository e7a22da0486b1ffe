#!/usr/bin/python3
"""Python ftplib cases, timed in-process; each prints one JSON object on stdout.

  ftpcases.py small   --port P --src DIR --dest DIR [--nodelay]
                      # upload every file of DIR in one session
  ftpcases.py small-down --port P --src DIR --dest DIR --names DIR
                      # download the files of remote --src (named as those of local --names)
                      # in one session into local --dest
  ftpcases.py latency --targets name=port,... --iterations N
                      # connect + AUTH TLS + login + PROT P + LIST + QUIT, servers interleaved

Credentials come from BENCH_USER / BENCH_PASS (every server in the benchmark has the same
user and password). Data connections resume the control connection's TLS session (see
ReusingFTP_TLS): ferryd requires that by default, and it is what FileZilla, WinSCP, curl and
lftp do, so no server gets a handicap from it.
"""

import argparse
import ftplib
import json
import os
import socket
import ssl
import sys
import time

HOST = "127.0.0.1"


class ReusingFTP_TLS(ftplib.FTP_TLS):
    """FTP_TLS whose data connections resume the control connection's TLS session.

    ftplib wraps data sockets without a session, i.e. a full handshake per transfer; passing
    `session=` makes OpenSSL offer the control connection's ticket (TLS 1.3) or id (1.2).
    """

    nodelay = False

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self.nodelay:
            # diagnostic only: ftplib leaves Nagle on, so its close_notify after a small
            # upload waits for the server's (possibly delayed) ACK of the data
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host,
                                            session=self.sock.session)
        return conn, size


def context():
    # the peers and ferryd use the same self-signed certificate; trust is not measured here
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def login(port, ctx, timeout=60, nodelay=False):
    ftp = ReusingFTP_TLS(context=ctx, timeout=timeout)
    ftp.nodelay = nodelay
    ftp.connect(HOST, port)
    ftp.auth()
    ftp.login(os.environ["BENCH_USER"], os.environ["BENCH_PASS"])
    ftp.prot_p()
    return ftp


def small(args):
    names = sorted(os.listdir(args.src))
    # read the sources first so the timed loop is only the protocol
    blobs = []
    for name in names:
        with open(os.path.join(args.src, name), "rb") as f:
            blobs.append((name, f.read()))
    ctx = context()
    t0 = time.perf_counter()
    ftp = login(args.port, ctx, nodelay=args.nodelay)
    ftp.cwd(args.dest)
    per_file = []
    t1 = time.perf_counter()
    for name, data in blobs:
        t = time.perf_counter()
        ftp.storbinary(f"STOR {name}", _Reader(data))
        per_file.append(time.perf_counter() - t)
    t2 = time.perf_counter()
    ftp.quit()
    print_loop(per_file, t0, t1, t2)


def print_loop(per_file, t0, t1, t2):
    """One JSON line for a timed per-file loop: login, loop and total time, per-file spread."""
    per_file = sorted(per_file)
    n = len(per_file)
    print(json.dumps({"files": n, "loop_s": t2 - t1, "login_s": t1 - t0,
                      "total_s": time.perf_counter() - t0,
                      "file_ms_p10_50_90": [per_file[n // 10] * 1000, per_file[n // 2] * 1000,
                                            per_file[(n * 9) // 10] * 1000],
                      "files_over_30ms": sum(1 for x in per_file if x > 0.030)}))


def small_down(args):
    # the names come from the local copy of the files: a listing (NLST) would add a data
    # connection whose cost and size limits differ between servers, and is not what is timed
    names = sorted(os.listdir(args.names))
    ctx = context()
    t0 = time.perf_counter()
    ftp = login(args.port, ctx)
    ftp.cwd(args.src)
    per_file = []
    blobs = []
    t1 = time.perf_counter()
    for name in names:
        t = time.perf_counter()
        chunks = []
        ftp.retrbinary(f"RETR {name}", chunks.append)
        blobs.append((name, chunks))
        per_file.append(time.perf_counter() - t)
    t2 = time.perf_counter()
    ftp.quit()
    # written after the loop so that the timed loop is only the protocol, as for uploads
    for name, chunks in blobs:
        with open(os.path.join(args.dest, name), "wb") as f:
            f.writelines(chunks)
    print_loop(per_file, t0, t1, t2)


class _Reader:
    """A minimal file object over bytes for storbinary (cheaper than BytesIO copies)."""

    def __init__(self, data):
        self.view = memoryview(data)
        self.pos = 0

    def read(self, n):
        chunk = self.view[self.pos:self.pos + n]
        self.pos += len(chunk)
        return chunk


PHASES = ["connect", "auth_tls", "user_pass", "pbsz_prot", "list", "quit"]


def one_login_list(port, ctx):
    """One connect + login + LIST + QUIT; returns (seconds, entries, seconds per phase)."""
    marks = [time.perf_counter()]
    ftp = ReusingFTP_TLS(context=ctx, timeout=60)
    ftp.connect(HOST, port)  # TCP connect + 220 greeting
    marks.append(time.perf_counter())
    ftp.auth()  # AUTH TLS + the TLS handshake
    marks.append(time.perf_counter())
    ftp.login(os.environ["BENCH_USER"], os.environ["BENCH_PASS"])  # the password check
    marks.append(time.perf_counter())
    ftp.prot_p()
    marks.append(time.perf_counter())
    lines = []
    ftp.retrlines("LIST", lines.append)  # PASV, data connection (resumed TLS), 150, 226
    marks.append(time.perf_counter())
    ftp.quit()
    marks.append(time.perf_counter())
    phases = [b - a for a, b in zip(marks, marks[1:])]
    return marks[-1] - marks[0], len(lines), phases


def latency(args):
    targets = []
    for item in args.targets.split(","):
        name, port = item.split("=")
        targets.append((name, int(port)))
    ctx = context()
    out = {name: [] for name, _ in targets}
    phases = {name: {p: [] for p in PHASES} for name, _ in targets}
    entries = {}
    # one warm-up round (first connection pays for page faults, ticket keys, caches)
    for name, port in targets:
        one_login_list(port, ctx)
    for i in range(args.iterations):
        # A B C D, then B C D A, ...: every server takes every position equally often
        k = i % len(targets)
        for name, port in targets[k:] + targets[:k]:
            seconds, n, split = one_login_list(port, ctx)
            out[name].append(seconds * 1000.0)
            for p, v in zip(PHASES, split):
                phases[name][p].append(v * 1000.0)
            entries[name] = n
    print(json.dumps({"ms": out, "entries": entries, "phases_ms": phases}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("small")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--src", required=True)
    s.add_argument("--dest", required=True)
    s.add_argument("--nodelay", action="store_true",
                   help="TCP_NODELAY on data sockets (diagnostic; ftplib does not set it)")
    s.set_defaults(func=small)
    d = sub.add_parser("small-down")
    d.add_argument("--port", type=int, required=True)
    d.add_argument("--src", required=True, help="remote directory")
    d.add_argument("--dest", required=True, help="local directory (exists)")
    d.add_argument("--names", required=True, help="local directory with the same file names")
    d.set_defaults(func=small_down)
    lat = sub.add_parser("latency")
    lat.add_argument("--targets", required=True)
    lat.add_argument("--iterations", type=int, default=50)
    lat.set_defaults(func=latency)
    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    sys.exit(main())
