#!/usr/bin/python3
"""Does a failed login take longer for an existing user than for an unknown one?

  enumeration.py --ftps-port P --sftp-port Q --iterations N

Each iteration tries, in alternating order, the benchmark user with a wrong password and a user
that does not exist, once over FTPS (timed: the PASS command alone, on a TLS control connection
after USER) and once over SFTP (timed: a whole SSH connection attempt with password auth, since
the client cannot time the password request alone). Prints one JSON object: the times of each
kind and, per protocol, the difference of medians with a Mann-Whitney U test of "same
distribution" (normal approximation), so the report can say whether a difference is
distinguishable from noise.

Credentials: BENCH_USER from the environment. The server must not ban 127.0.0.1 (the benchmark
config allow-lists it).
"""

import argparse
import asyncio
import ftplib
import json
import math
import os
import ssl
import time

HOST = "127.0.0.1"
UNKNOWN = "no-such-user-x7"


def ftps_fail(port, user, ctx):
    ftp = ftplib.FTP_TLS(context=ctx, timeout=30)
    ftp.connect(HOST, port)
    ftp.auth()
    ftp.sendcmd(f"USER {user}")
    t = time.perf_counter()
    try:
        ftp.sendcmd("PASS wrong-password-for-timing")
        raise SystemExit("a wrong password was accepted")
    except ftplib.error_perm:
        elapsed = time.perf_counter() - t
    ftp.close()
    return elapsed * 1000


async def sftp_fail(port, user):
    import asyncssh
    t = time.perf_counter()
    try:
        conn = await asyncssh.connect(HOST, port, username=user,
                                      password="wrong-password-for-timing",
                                      known_hosts=None, client_keys=None,
                                      preferred_auth="password")
        conn.close()
        raise SystemExit("a wrong password was accepted")
    except asyncssh.PermissionDenied:
        return (time.perf_counter() - t) * 1000


def mann_whitney_p(a, b):
    """Two-sided p-value of the Mann-Whitney U test (normal approximation, tie-corrected)."""
    values = sorted([(v, 0) for v in a] + [(v, 1) for v in b])
    ranks = [0.0] * len(values)
    i = 0
    ties = 0.0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1][0] == values[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        t = j - i + 1
        ties += t ** 3 - t
        i = j + 1
    n1, n2 = len(a), len(b)
    r1 = sum(r for r, (_, g) in zip(ranks, values) if g == 0)
    u = r1 - n1 * (n1 + 1) / 2
    n = n1 + n2
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    if sigma == 0:
        return 1.0
    z = (u - n1 * n2 / 2) / sigma
    return math.erfc(abs(z) / math.sqrt(2))


def median(v):
    v = sorted(v)
    return v[len(v) // 2]


def summary(known, unknown):
    return {"known_ms": known, "unknown_ms": unknown,
            "median_known_ms": median(known), "median_unknown_ms": median(unknown),
            "difference_ms": median(known) - median(unknown),
            "p_value": mann_whitney_p(known, unknown)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ftps-port", type=int, required=True)
    ap.add_argument("--sftp-port", type=int)
    ap.add_argument("--iterations", type=int, default=50)
    args = ap.parse_args()
    user = os.environ["BENCH_USER"]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    result = {}
    known, unknown = [], []
    for i in range(args.iterations):
        order = [(user, known), (UNKNOWN, unknown)]
        for name, out in (order if i % 2 == 0 else order[::-1]):
            out.append(ftps_fail(args.ftps_port, name, ctx))
    result["ftps"] = summary(known, unknown)
    if args.sftp_port:
        known, unknown = [], []
        for i in range(args.iterations):
            order = [(user, known), (UNKNOWN, unknown)]
            for name, out in (order if i % 2 == 0 else order[::-1]):
                out.append(asyncio.run(sftp_fail(args.sftp_port, name)))
        result["sftp"] = summary(known, unknown)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
