#!/usr/bin/python3
"""Open many logged-in, idle FTPS and SFTP sessions from one asyncio process and hold them.

  idle_sessions.py --host 127.0.0.1 --ftps-port P --ftps N --sftp-port Q --sftp M \
                   [--concurrency C] [--key PATH]

Each FTPS session: connect, AUTH TLS, USER, PASS, PBSZ 0, PROT P, PWD, then silence.
Each SFTP session: SSH connect with public-key auth (asyncssh), start the sftp subsystem
(version exchange), REALPATH ".", then silence.
That is the state a GUI client leaves a session in between transfers. One process holds all
of them (OpenSSH's `sftp` would need two processes per session, which this machine cannot
hold 5,000 times).

Talks to its parent over stdin/stdout, one JSON object per line:
  -> {"event": "ready", "ftps_ok": n, "ftps_failed": n, "sftp_ok": n, ..., "errors": {...}}
  <- "check"  (NOOP on every FTPS session, REALPATH on every SFTP session)
  -> {"event": "check", "ftps_alive": n, "sftp_alive": n, "seconds": s}
  <- "drop N" (close N sessions, FTPS first, e.g. to give the server descriptors back)
  -> {"event": "dropped", "ftps": n, "sftp": n}
  <- "quit" or end of input: close everything politely, then
  -> {"event": "closed"}
Credentials: BENCH_USER / BENCH_PASS from the environment.
"""

import argparse
import asyncio
import collections
import json
import logging
import os
import re
import ssl
import sys
import time
import warnings

warnings.filterwarnings("ignore")  # asyncssh imports ciphers cryptography calls deprecated
import asyncssh  # noqa: E402  (Debian: python3-asyncssh)

logging.getLogger("asyncssh").setLevel(logging.ERROR)
REPLY_END = re.compile(rb"^\d{3} ")


class FtpsSession:
    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    async def reply(self):
        """Read one (possibly multi-line) reply; return (code, text)."""
        lines = []
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionError("connection closed by server")
            lines.append(line)
            if REPLY_END.match(line):
                return int(line[:3]), b"".join(lines).decode(errors="replace").strip()

    async def command(self, text, expect):
        self.writer.write(text.encode() + b"\r\n")
        await self.writer.drain()
        code, msg = await self.reply()
        if code // 100 != expect:
            raise ConnectionError(f"{text.split()[0]}: {msg[:80]}")
        return code

    @classmethod
    async def open(cls, host, port, ctx, user, password):
        reader, writer = await asyncio.open_connection(host, port)
        s = cls(reader, writer)
        code, msg = await s.reply()
        if code != 220:
            raise ConnectionError(f"greeting: {msg[:80]}")
        await s.command("AUTH TLS", 2)
        await writer.start_tls(ctx, server_hostname=None)
        await s.command(f"USER {user}", 3)
        await s.command(f"PASS {password}", 2)
        await s.command("PBSZ 0", 2)
        await s.command("PROT P", 2)
        await s.command("PWD", 2)
        return s

    async def check(self):
        await self.command("NOOP", 2)

    async def close(self):
        try:
            self.writer.write(b"QUIT\r\n")
            await self.writer.drain()
            await asyncio.wait_for(self.reply(), 5)
        except Exception:
            pass
        self.writer.close()


class SftpSession:
    def __init__(self, conn, sftp):
        self.conn, self.sftp = conn, sftp

    @classmethod
    async def open(cls, host, port, key, user):
        # compression off, as OpenSSH's sftp does by default (asyncssh would pick
        # zlib@openssh.com, which costs a server ~300 KiB of zlib state per session)
        conn = await asyncssh.connect(host, port=port, username=user, client_keys=[key],
                                      known_hosts=None, preferred_auth="publickey",
                                      agent_path=None, compression_algs=["none"])
        sftp = await conn.start_sftp_client()
        await sftp.realpath(".")
        return cls(conn, sftp)

    async def check(self):
        await self.sftp.realpath(".")

    async def close(self):
        try:
            self.sftp.exit()
            self.conn.close()
            await asyncio.wait_for(self.conn.wait_closed(), 5)
        except Exception:
            pass


async def open_many(n, opener, concurrency, errors):
    sem = asyncio.Semaphore(concurrency)

    async def one():
        async with sem:
            try:
                return await asyncio.wait_for(opener(), 120)
            except Exception as e:  # count and go on: the report says how many failed
                errors[f"{type(e).__name__}: {str(e)[:100]}"] += 1
                return None

    sessions = await asyncio.gather(*(one() for _ in range(n)))
    return [s for s in sessions if s is not None]


async def check_all(sessions):
    async def one(s):
        try:
            await asyncio.wait_for(s.check(), 60)
            return True
        except Exception:
            return False

    results = await asyncio.gather(*(one(s) for s in sessions))
    return sum(results)


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--ftps-port", type=int, default=0)
    p.add_argument("--ftps", type=int, default=0)
    p.add_argument("--sftp-port", type=int, default=0)
    p.add_argument("--sftp", type=int, default=0)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--key", default=os.environ.get("BENCH_SSH_KEY", ""))
    a = p.parse_args()
    user, password = os.environ["BENCH_USER"], os.environ["BENCH_PASS"]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    errors = collections.Counter()
    t0 = time.monotonic()
    # FTPS and SFTP are opened at the same time, each with its own concurrency budget
    ftps, sftp = await asyncio.gather(
        open_many(a.ftps, lambda: FtpsSession.open(a.host, a.ftps_port, ctx, user, password),
                  a.concurrency, errors),
        open_many(a.sftp, lambda: SftpSession.open(a.host, a.sftp_port, a.key, user),
                  a.concurrency, errors))
    emit({"event": "ready", "ftps_ok": len(ftps), "ftps_failed": a.ftps - len(ftps),
          "sftp_ok": len(sftp), "sftp_failed": a.sftp - len(sftp),
          "seconds": time.monotonic() - t0, "errors": dict(errors.most_common(5))})
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        cmd = line.strip()
        if cmd == "check":
            t = time.monotonic()
            f_alive, s_alive = await asyncio.gather(check_all(ftps), check_all(sftp))
            emit({"event": "check", "ftps_alive": f_alive, "sftp_alive": s_alive,
                  "seconds": time.monotonic() - t})
        elif cmd.startswith("drop "):
            n = int(cmd.split()[1])
            gone_f, ftps = ftps[:n], ftps[n:]
            gone_s, sftp = sftp[:max(0, n - len(gone_f))], sftp[max(0, n - len(gone_f)):]
            await asyncio.gather(*(s.close() for s in gone_f + gone_s))
            emit({"event": "dropped", "ftps": len(ftps), "sftp": len(sftp)})
        elif cmd == "quit" or not line:
            break
    await asyncio.gather(*(s.close() for s in ftps + sftp))
    emit({"event": "closed"})


if __name__ == "__main__":
    asyncio.run(main())
