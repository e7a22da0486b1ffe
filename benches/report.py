#!/usr/bin/python3
"""Turn a results directory (results.jsonl + meta.json from bench.py) into a Markdown report.

  report.py DIR            # prints the report
  report.py DIR -o FILE    # writes it

Only ratios between figures of this one run are compared with the targets: the machine is
shared and noisy, so absolute figures from different runs are not comparable.
MB/s are decimal (10^6 bytes per second); sizes in MiB/GiB are binary.
"""

import argparse
import json
import os
import statistics
import sys

FTP_PEERS = ["vsftpd", "proftpd", "pure-ftpd"]
SFTP_PEERS = ["proftpd", "openssh"]
MODE = {"ftps": "explicit", "ftps-implicit": "implicit", "sftp": "SFTP"}
CLIENT = {"curl": "curl", "lftp": "lftp", "sftp": "OpenSSH sftp (default cipher)",
          "sftp-aesgcm": "OpenSSH sftp -c aes128-gcm", "ftplib": "Python ftplib",
          "ftplib-nodelay": "Python ftplib + TCP_NODELAY (diagnostic)"}


def med(v):
    return statistics.median(v) if v else None


def fmt(x, digits=0):
    if x is None:
        return "–"
    return f"{x:,.{digits}f}"


def cell(values, digits=0):
    """'median (min–max)', or the single value."""
    if not values:
        return "–"
    if len(values) == 1:
        return fmt(values[0], digits)
    return f"{fmt(med(values), digits)} ({fmt(min(values), digits)}–{fmt(max(values), digits)})"


def ratio(a, b):
    if a is None or not b:
        return None
    return a / b


def rfmt(r):
    return "–" if r is None else f"{r:.2f}×"


def verdict(ok):
    return "–" if ok is None else ("**met**" if ok else "**missed**")


class Report:
    def __init__(self, directory):
        with open(os.path.join(directory, "results.jsonl")) as f:
            self.rows = [json.loads(line) for line in f if line.strip()]
        for r in self.rows:
            if r["case"] == "small":
                r.setdefault("dir", "up")  # results from before downloads were measured
        with open(os.path.join(directory, "meta.json")) as f:
            self.meta = json.load(f)
        self.out = []
        self.targets = []  # (case, ferryd, best peer, ratio, target, met)

    def w(self, line=""):
        self.out.append(line)

    def select(self, **kw):
        return [r for r in self.rows
                if all(r.get(k) == v for k, v in kw.items()) and not r.get("error")]

    def values(self, key, **kw):
        return [r[key] for r in self.select(**kw) if r.get(key) is not None]

    # -------------------------------------------------------------- sections
    def header(self):
        m = self.meta
        self.w("# ferryd benchmark report")
        self.w()
        mode = "quick (smoke run: small sizes, 1 repetition)" if m["quick"] else "full"
        self.w(f"Run {m['date']}, mode **{mode}**.")
        self.w()
        self.w("| machine | |")
        self.w("|---|---|")
        self.w(f"| CPU | {m['cpu']}, {m['nproc']} cores ({m['hypervisor'] or 'bare metal'}) |")
        self.w(f"| kernel | {m['kernel']} |")
        self.w(f"| memory | {m['memory']} |")
        self.w(f"| load at start (/proc/loadavg) | {m['load_at_start']} |")
        loads = [f"{r['name']} {r['load1']:.2f}" for r in self.rows
                 if r["case"] == "case-start"]
        self.w(f"| 1-min load when each case started | {', '.join(loads)} |")
        cpu = [r for r in self.rows if r["case"] == "cpu-method"]
        if cpu:
            methods = sorted(set(cpu[-1]["methods"].values()))
            self.w(f"| server CPU accounting | {', '.join(methods)} "
                   "(cgroup = exact per-server cpu.stat; see benches/procstat.py) |")
        self.w()
        self.w("| software | version |")
        self.w("|---|---|")
        for k in ("ferryd", "vsftpd", "proftpd", "pure-ftpd", "openssh", "curl", "lftp",
                  "python", "openssl"):
            self.w(f"| {k} | {m.get(k, '?')} |")
        self.w()

    def ceilings(self):
        rows = [r for r in self.rows if r["case"] == "ceiling" and not r.get("error")]
        if not rows:
            return
        self.w("## Ceilings on this machine")
        self.w()
        self.w("| what | MB/s median (min–max) | server CPU s/GiB |")
        self.w("|---|---|---|")
        seen = []
        for r in rows:
            if r["what"] not in seen:
                seen.append(r["what"])
        for what in seen:
            rs = [r for r in rows if r["what"] == what]
            cpu = [r["server_cpu_per_gib"] for r in rs if "server_cpu_per_gib" in r]
            self.w(f"| {what} | {cell([r['mb_s'] for r in rs])} | "
                   f"{cell(cpu, 2) if cpu else '–'} |")
        self.w()

    def tls_ceiling(self):
        """The raw TLS stream: the best median over the tools and TLS versions that measured
        it (OpenSSL 3.0's TLS 1.3 record path is slower than its TLS 1.2 one, and slower than
        aws-lc's, so a TLS 1.3-only OpenSSL figure would not be an upper bound)."""
        by = {}
        for r in self.rows:
            if r["case"] == "ceiling" and r.get("what", "").startswith("raw TLS TLSv1") \
                    and not r.get("error"):
                by.setdefault(r["what"], []).append(r["mb_s"])
        return max((med(v) for v in by.values()), default=None)

    def bulk(self):
        rows = self.select(case="bulk")
        if not rows:
            return
        ceiling = self.tls_ceiling()
        self.w("## Bulk transfers (MB/s, whole client run incl. connect and login)")
        self.w()
        size = self.meta["sizes"]["big"] / (1 << 20)
        self.w(f"File size {size:.0f} MiB, random bytes, tmpfs on both sides; downloads go "
               "to /dev/null. Cells: median (min–max) over the interleaved repetitions; "
               "ratios are ferryd's median over the peer's median. *client CPU*: the client "
               "process's CPU time over the wall time of the runs against ferryd; near 100 % "
               "means the (single-threaded) client, not the server, sets the pace.")
        self.w()
        combos = []
        for r in rows:
            key = (r["client"], r["proto"])
            if key not in combos:
                combos.append(key)
        for direction in ("down", "up"):
            self.w(f"### {'Download' if direction == 'down' else 'Upload'}")
            self.w()
            self.w("| client | mode | ferryd | vsftpd | proftpd | pure-ftpd | openssh | "
                   "ferryd ÷ best peer | ferryd ÷ TLS ceiling | client CPU (with ferryd) |")
            self.w("|---|---|---|---|---|---|---|---|---|---|")
            for client, proto in combos:
                by = {s: self.values("mb_s", case="bulk", client=client, proto=proto,
                                     dir=direction, server=s)
                      for s in ["ferryd", *FTP_PEERS, "openssh"]}
                peers = {s: med(v) for s, v in by.items() if s != "ferryd" and v}
                f = med(by["ferryd"])
                best = max(peers, key=peers.get) if peers else None
                r_best = ratio(f, peers.get(best))
                r_ceil = ratio(f, ceiling) if proto != "sftp" else None
                cells = [cell(by[s]) for s in ["ferryd", *FTP_PEERS, "openssh"]]
                busy = [r["client_cpu"] / r["seconds"] for r in
                        self.select(case="bulk", client=client, proto=proto, dir=direction,
                                    server="ferryd")]
                self.w(f"| {CLIENT[client]} | {MODE[proto]} | {' | '.join(cells)} | "
                       f"{rfmt(r_best)} ({best}) | {rfmt(r_ceil)} | "
                       f"{fmt(med(busy) * 100 if busy else None)} % |")
                label = f"{CLIENT[client]} {MODE[proto]} {direction}load"
                if proto == "sftp":
                    r_ssh = ratio(f, peers.get("openssh"))
                    self.targets.append((label + ", vs OpenSSH", fmt(f), f"{fmt(peers.get('openssh'))} (openssh)",
                                         rfmt(r_ssh), "≥ 1.3× OpenSSH",
                                         None if r_ssh is None else r_ssh >= 1.3))
                else:
                    ok = None if r_best is None else r_best >= 1.2
                    tgt = "≥ 1.2× best peer"
                    if direction == "down" and r_ceil is not None:
                        ok = ok and r_ceil >= 0.75
                        tgt += f", ≥ 75 % of TLS ceiling (ferryd at {r_ceil * 100:.0f} %)"
                    self.targets.append((label, fmt(f), f"{fmt(peers.get(best))} ({best})",
                                         rfmt(r_best), tgt, ok))
            self.w()
        self.cpu_table("bulk", combos)

    def cpu_table(self, case, combos):
        """Server CPU seconds per GiB moved, median per server."""
        self.w(f"### Server CPU seconds per GiB ({case})")
        self.w()
        self.w("| client | mode | direction | ferryd | vsftpd | proftpd | pure-ftpd | openssh | "
               "ferryd ÷ OpenSSH (SFTP) / ÷ lowest peer (FTPS) |")
        self.w("|---|---|---|---|---|---|---|---|---|")
        for client, proto in combos:
            for direction in ("down", "up"):
                kw = dict(case=case, client=client, proto=proto)
                if case == "bulk":
                    kw["dir"] = direction
                elif direction == "up":
                    continue
                by = {}
                for s in ["ferryd", *FTP_PEERS, "openssh"]:
                    rs = self.select(server=s, **kw)
                    by[s] = [r["server_cpu"] / (r["bytes"] / (1 << 30)) for r in rs]
                f = med(by["ferryd"])
                peers = {s: med(v) for s, v in by.items() if s != "ferryd" and v}
                if proto == "sftp":
                    ref, r = "openssh", ratio(f, peers.get("openssh"))
                else:
                    ref = min(peers, key=peers.get) if peers else None
                    r = ratio(f, peers.get(ref))
                cells = [cell(by[s], 2) for s in ["ferryd", *FTP_PEERS, "openssh"]]
                self.w(f"| {CLIENT[client]} | {MODE[proto]} | {direction} | "
                       f"{' | '.join(cells)} | {rfmt(r)} ({ref}) |")
                if proto == "sftp" and case == "bulk":
                    self.targets.append((f"{CLIENT[client]} {MODE[proto]} {direction}load server "
                                         "CPU/GiB",
                                         fmt(f, 2), f"{fmt(peers.get('openssh'), 2)} (openssh)",
                                         rfmt(r), "≤ 0.7× OpenSSH",
                                         None if r is None else r <= 0.7))
        self.w()

    def by_server(self, fn, **kw):
        """{server: [fn(row), ...]} over the rows matching kw, for every server column."""
        return {s: [fn(r) for r in self.select(server=s, **kw)]
                for s in ["ferryd", *FTP_PEERS, "openssh"]}

    def small_tables(self, case, plan):
        """files/s, server CPU and client CPU per file for (client, direction) pairs; returns
        {(client, direction): (files per run, ferryd files/s, best peer, its files/s, ratio,
        ferryd CPU ms/file, lowest-CPU peer, its CPU ms/file, ratio)} for the targets."""
        out = {}
        names = ["ferryd", *FTP_PEERS, "openssh"]
        self.w("| client | direction | files | " + " | ".join(names) +
               " | ferryd ÷ best peer | client CPU, % of wall (with ferryd) |")
        self.w("|---|---|---|" + "---|" * len(names) + "---|---|")
        for client, direction in plan:
            kw = dict(case=case, client=client, dir=direction)
            rows = self.select(**kw)
            if not rows:
                continue
            by = self.by_server(lambda r: r["files_s"], **kw)
            peers = {s: med(v) for s, v in by.items() if s != "ferryd" and v}
            f = med(by["ferryd"])
            best = max(peers, key=peers.get) if peers else None
            busy = [r["client_cpu"] / r["seconds"] * 100
                    for r in self.select(server="ferryd", **kw)]
            files = sorted({r["files"] for r in rows})
            self.w(f"| {CLIENT[client]} | {direction} | {', '.join(f'{n:,}' for n in files)} | "
                   + " | ".join(cell(by[s]) for s in names) +
                   f" | {rfmt(ratio(f, peers.get(best)))} ({best}) | {cell(busy)} % |")
            out[(client, direction)] = [files[-1], f, best, peers.get(best),
                                        ratio(f, peers.get(best))]
        self.w()
        for what, key in (("Server", "server_cpu"), ("Client", "client_cpu")):
            self.w(f"{what} CPU, ms per file (median, min–max):")
            self.w()
            self.w("| client | direction | " + " | ".join(names) +
                   (" | ferryd ÷ lowest peer |" if key == "server_cpu" else " |"))
            self.w("|---|---|" + "---|" * len(names) + ("---|" if key == "server_cpu" else ""))
            for client, direction in plan:
                kw = dict(case=case, client=client, dir=direction)
                if (client, direction) not in out:
                    continue
                by = self.by_server(lambda r: r[key] / r["files"] * 1000, **kw)
                line = (f"| {CLIENT[client]} | {direction} | " +
                        " | ".join(cell(by[s], 2) for s in names) + " |")
                if key == "server_cpu":
                    peers = {s: med(v) for s, v in by.items() if s != "ferryd" and v}
                    f = med(by["ferryd"])
                    low = min(peers, key=peers.get) if peers else None
                    r = ratio(f, peers.get(low))
                    line += f" {rfmt(r)} ({low}) |"
                    out[(client, direction)] += [f, low, peers.get(low), r]
                self.w(line)
            self.w()
        return out

    def small(self):
        rows = self.select(case="small")
        if not rows:
            return
        n = self.meta["sizes"]["small_files"]
        self.w(f"## Small files, one client: {n:,} × 8 KiB in one session")
        self.w()
        self.w("Uploads: ftplib STOR loop, lftp `mput`, OpenSSH `sftp` batch `put dir/*`; "
               "downloads into an empty local directory: ftplib RETR loop, lftp `mget *`, "
               "`sftp` `get *`. files/s: ftplib timed in-process over the transfer loop "
               "(login excluded), lftp and sftp over the whole client run. CPU per file: "
               "the server's whole run (its cgroup, login included) and the client "
               "process's (rusage, with its children such as sftp's ssh) over the files "
               "moved. lftp downloads wait ~45 ms per file on every server (its "
               "ChangeCipherSpec and Finished go out in two writes, Nagle holds the second "
               "until the server's delayed ACK), and plain ftplib uploads on some (its "
               "close_notify after the data), so these two move a quarter of the files, "
               "once. Every "
               "run's files are checked (SHA-256). Cells: median (min–max) over the "
               "interleaved repetitions.")
        self.w()
        plan = [(c, d) for c in ("ftplib", "ftplib-nodelay", "lftp", "sftp")
                for d in ("up", "down")]
        res = self.small_tables("small", plan)
        for (client, direction), v in res.items():
            if client == "ftplib-nodelay":
                continue  # diagnostic, no target
            files, f, best, bv, r, fc, low, lv, rc = v
            what = f"{files:,} × 8 KiB {direction}load, {CLIENT[client]}"
            if direction == "up":
                self.targets.append((what, fmt(f), f"{fmt(bv)} ({best})", rfmt(r),
                                     "≥ 1.3× best peer", None if r is None else r >= 1.3))
            self.targets.append((what + ", server CPU ms/file", fmt(fc, 2),
                                 f"{fmt(lv, 2)} ({low})", rfmt(rc), "≤ 0.5× lowest peer",
                                 None if rc is None else rc <= 0.5))
        stalls = [r for r in rows if r.get("file_ms")]
        if stalls:
            self.w("Python ftplib per-file STOR / RETR time, ms (p10 / median / p90) and files "
                   "that took over 30 ms (a Nagle + delayed-ACK stall):")
            self.w()
            self.w("| client | direction | server | rep | p10 / median / p90 | files > 30 ms |")
            self.w("|---|---|---|---|---|---|")
            for r in stalls:
                p10, p50, p90 = r["file_ms"]
                self.w(f"| {CLIENT[r['client']]} | {r['dir']} | {r['server']} | {r['rep']} | "
                       f"{p10:.1f} / {p50:.1f} / {p90:.1f} | {r['stalls']} |")
            self.w()

    def small8(self):
        rows = self.select(case="small8")
        if not rows:
            return
        n, k = self.meta["sizes"]["small_files"], rows[0]["clients"]
        self.w(f"## Small files, {k} clients at once: {n // k:,} × 8 KiB each, "
               f"{n:,} in all")
        self.w()
        self.w(f"{k} client processes started together, each moving its own {n // k:,} files "
               "in its own session (uploads into its own directory, downloads into an empty "
               "local one); files/s = all files over the wall time from the first start to "
               "the last exit (logins included). CPU per file as above, over all clients. "
               "Every client's files are checked (SHA-256).")
        self.w()
        plan = [(c, d) for c in ("ftplib", "lftp", "sftp") for d in ("up", "down")]
        res = self.small_tables("small8", plan)
        for (client, direction), v in res.items():
            f, best, bv, r = v[1:5]
            self.targets.append((f"{k} clients × {n // k} × 8 KiB {direction}load, "
                                 f"{CLIENT[client]}", fmt(f), f"{fmt(bv)} ({best})", rfmt(r),
                                 "≥ 1.3× best peer", None if r is None else r >= 1.3))

    def latency(self):
        rows = self.select(case="latency")
        if not rows:
            return
        self.w("## connect + AUTH TLS + login + PROT P + LIST + QUIT (Python ftplib, ms)")
        self.w()
        self.w("Timed in-process; the servers take turns every iteration.")
        self.w()
        self.w("| server | median | p10–p90 | min–max | n | ferryd ÷ this |")
        self.w("|---|---|---|---|---|---|")
        meds = {r["server"]: med(r["ms"]) for r in rows}
        for r in rows:
            v = sorted(r["ms"])
            p10, p90 = v[len(v) // 10], v[(len(v) * 9) // 10]
            self.w(f"| {r['server']} | {fmt(med(v), 1)} | {fmt(p10, 1)}–{fmt(p90, 1)} | "
                   f"{fmt(v[0], 1)}–{fmt(v[-1], 1)} | {len(v)} | "
                   f"{rfmt(ratio(meds.get('ferryd'), meds[r['server']]))} |")
        self.w()
        phases = [p for p in rows[0].get("phases_ms", {})]
        if phases:
            self.w("Median per step (ms), to show where the time goes:")
            self.w()
            self.w("| server | " + " | ".join(phases) + " |")
            self.w("|---|" + "---|" * len(phases))
            for r in rows:
                self.w(f"| {r['server']} | " + " | ".join(
                    fmt(med(r["phases_ms"][p]), 1) for p in phases) + " |")
            self.w()
        r = ratio(meds.get("ferryd"), meds.get("vsftpd"))
        self.targets.append(("login + LIST latency, ftplib (ms)", fmt(meds.get("ferryd"), 1),
                             f"{fmt(meds.get('vsftpd'), 1)} (vsftpd)", rfmt(r),
                             "≤ 0.6× vsftpd", None if r is None else r <= 0.6))

    def concurrent(self):
        rows = self.select(case="concurrent")
        if not rows:
            return
        c, size = self.meta["sizes"]["conc_clients"], self.meta["sizes"]["conc_size"] >> 20
        self.w(f"## {c} concurrent clients × {size} MiB download (aggregate MB/s)")
        self.w()
        self.w("| client | ferryd | vsftpd | proftpd | pure-ftpd | openssh | ferryd ÷ best peer |")
        self.w("|---|---|---|---|---|---|---|")
        combos = []
        for client in ("curl", "sftp"):
            proto = "sftp" if client == "sftp" else "ftps"
            combos.append((client, proto))
            by = {s: self.values("mb_s", case="concurrent", client=client, server=s)
                  for s in ["ferryd", *FTP_PEERS, "openssh"]}
            peers = {s: med(v) for s, v in by.items() if s != "ferryd" and v}
            f = med(by["ferryd"])
            best = max(peers, key=peers.get) if peers else None
            r = ratio(f, peers.get(best))
            cells = [cell(by[s]) for s in ["ferryd", *FTP_PEERS, "openssh"]]
            self.w(f"| {CLIENT[client]} | {' | '.join(cells)} | {rfmt(r)} ({best}) |")
            self.targets.append((f"{c} × {size} MiB concurrent, {CLIENT[client]}", fmt(f),
                                 f"{fmt(peers.get(best))} ({best})", rfmt(r),
                                 "≥ 1.3× best peer", None if r is None else r >= 1.3))
        self.w()
        self.cpu_table("concurrent", combos)

    def enumeration(self):
        rows = [r for r in self.select(case="enumeration") if not r.get("error")]
        if not rows:
            return
        self.w("## Failed-login timing: existing user vs unknown user (ferryd, ms)")
        self.w()
        self.w("A wrong password for the benchmark user against a user that does not exist, "
               "alternating. FTPS: the PASS command alone; SFTP: a whole SSH connection "
               "attempt with password auth (the client cannot time less). p: Mann-Whitney U "
               "test of \"same distribution\"; a large p means the two are not told apart.")
        self.w()
        self.w("| protocol | existing user, median (p10–p90) | unknown user, median (p10–p90) "
               "| difference of medians | p | n |")
        self.w("|---|---|---|---|---|---|")
        for r in rows:
            def spread(v):
                v = sorted(v)
                return (f"{fmt(med(v), 1)} ({fmt(v[len(v) // 10], 1)}–"
                        f"{fmt(v[(len(v) * 9) // 10], 1)})")
            self.w(f"| {r['proto'].upper()} | {spread(r['known_ms'])} | "
                   f"{spread(r['unknown_ms'])} | {r['difference_ms']:+.1f} | "
                   f"{r['p_value']:.2f} | {len(r['known_ms'])} + {len(r['unknown_ms'])} |")
        self.w()

    def memory(self):
        rows = self.select(case="memory")
        if not rows:
            return
        self.w("## Memory per idle logged-in session (KiB)")
        self.w()
        self.w("What one more session costs: memory with N idle sessions minus memory with "
               "N/2, divided by the second N/2. ferryd: RSS and PSS of its one process; "
               "peers: PSS summed over the daemon and every session process (RSS "
               "double-counts shared pages, shown for reference). \"From zero\" divides the "
               "growth since no sessions by all N: for ferryd it includes one-time memory "
               "that does not grow with sessions, mostly the argon2 working-memory pool "
               "(19 MiB per concurrent login check, at most 4).")
        self.w()
        self.w("| protocol | server | sessions held | PSS / session | RSS / session | "
               "PSS / session from zero | ferryd RSS ÷ this PSS |")
        self.w("|---|---|---|---|---|---|---|")
        for proto in ("ftps", "sftp"):
            f_rss = med(self.values("rss_per_session_kib", case="memory", proto=proto,
                                    server="ferryd"))
            for s in ["ferryd", *(FTP_PEERS if proto == "ftps" else SFTP_PEERS)]:
                rs = self.select(case="memory", proto=proto, server=s)
                if not rs:
                    continue
                pss = [r["pss_per_session_kib"] for r in rs]
                rss = [r["rss_per_session_kib"] for r in rs]
                zero = [r["pss_from_zero_kib"] for r in rs if "pss_from_zero_kib" in r]
                held = ", ".join(f"{r['alive']}/{r['sessions'] + r['failed']}" for r in rs)
                self.w(f"| {proto.upper()} | {s} | {held} | {cell(pss)} | {cell(rss)} | "
                       f"{cell(zero) if zero else '–'} | "
                       f"{rfmt(ratio(f_rss, med(pss))) if s != 'ferryd' else ''} |")
            limit = 64 if proto == "ftps" else 160
            self.targets.append((f"memory per idle {proto.upper()} session (KiB, RSS)",
                                 fmt(f_rss), "–", "–", f"≤ {limit} KiB",
                                 None if f_rss is None else f_rss <= limit))
        self.w()

    def idle(self):
        rows = self.select(case="idle")
        if not rows:
            return
        r = rows[-1]
        want_f, want_s = self.meta["sizes"]["idle_ftps"], self.meta["sizes"]["idle_sftp"]
        self.w(f"## {want_f + want_s:,} idle sessions on ferryd ({want_f:,} FTPS + "
               f"{want_s:,} SFTP)")
        self.w()
        u, l = r["unloaded"], r["loaded"]
        rf = ratio(l["ftplib_ms"], u["ftplib_ms"])
        rs = ratio(l["sftp_ms"], u["sftp_ms"])
        rss0, rss1 = r["rss_kib"]
        held = r["ftps_ok"] + r["sftp_ok"]
        alive = r["ftps_alive"] + r["sftp_alive"]
        self.w("| figure | value |")
        self.w("|---|---|")
        self.w(f"| sessions opened (FTPS + SFTP) | {r['ftps_ok']:,} + {r['sftp_ok']:,} "
               f"(failed {r['ftps_failed']} + {r['sftp_failed']}) in {r['open_seconds']:.0f} s |")
        self.w(f"| still alive after the latency runs (NOOP / REALPATH answered) | "
               f"{r['ftps_alive']:,} + {r['sftp_alive']:,} |")
        self.w(f"| ferryd RSS before → with the sessions | {rss0 / 1024:.0f} MiB → "
               f"{rss1 / 1024:.0f} MiB ({r['per_session_kib']:.0f} KiB per session) |")
        self.w(f"| ferryd threads, open fds (limit) | {r['threads']}, {r['fds']:,} "
               f"({r.get('fd_limit') or '?'}) |")
        self.w(f"| ferryd CPU while the sessions idle | {r['idle_cpu_per_s'] * 100:.1f} % of "
               "one core |")
        self.w(f"| ftplib login+LIST median, unloaded → loaded | {u['ftplib_ms']:.1f} → "
               f"{l['ftplib_ms']:.1f} ms ({rfmt(rf)}; {l['ftplib_failed']} of "
               f"{l['ftplib_failed'] + len(l['ftplib_all'])} runs failed) |")
        self.w(f"| OpenSSH `sftp` connect+ls+quit median, unloaded → loaded | "
               f"{u['sftp_ms']:.1f} → {l['sftp_ms']:.1f} ms ({rfmt(rs)}) |")
        h = r.get("headroom")
        if h:
            self.w(f"| ferryd at its descriptor limit: with 200 FTPS sessions closed "
                   f"({h['sessions']:,} held), ftplib / sftp medians | {h['ftplib_ms']:.1f} ms "
                   f"({rfmt(ratio(h['ftplib_ms'], u['ftplib_ms']))}) / {h['sftp_ms']:.1f} ms "
                   f"({rfmt(ratio(h['sftp_ms'], u['sftp_ms']))}) |")
        if r.get("errors"):
            errs = "; ".join(f"{k} ×{v}" for k, v in r["errors"].items())
            self.w(f"| client errors while opening | {errs} |")
        self.w()
        ok = (alive == want_f + want_s and held == want_f + want_s
              and rf is not None and rf < 2 and rs is not None and rs < 2)
        self.targets.append((f"{want_f + want_s:,} idle sessions held, normal client < 2× "
                             "unloaded latency", f"{alive:,} alive; {rfmt(rf)} / {rfmt(rs)}",
                             "–", "–", "all held, < 2×", ok))

    def integrity(self):
        rows = [r for r in self.rows if r["case"] == "verify"]
        small = [r for r in self.rows if r["case"] in ("small", "small8")]
        if not rows and not small:
            return
        bad = [r for r in rows if not r.get("ok")] + [r for r in small if not r.get("ok")]
        self.w("## Integrity and negotiated algorithms")
        self.w()
        self.w(f"{len(rows)} verification transfers (one per client, mode, direction and "
               f"server, untimed, before the timed runs) and {len(small)} small-file runs "
               f"checked with SHA-256: **{len(bad)} failed**.")
        self.w()
        for r in bad:
            self.w(f"- FAILED: {r.get('of', r['case'])} {r.get('client')} {r.get('proto')} "
                   f"{r.get('dir', '')} {r['server']}: {r.get('error') or 'digest mismatch'}")
        neg = {}
        for r in rows:
            if r.get("negotiated"):
                neg[(r["client"], r["server"])] = r["negotiated"]
        if neg:
            self.w()
            self.w("| client | server | cipher negotiated (from `sftp -v`) |")
            self.w("|---|---|---|")
            for (c, s), v in neg.items():
                self.w(f"| {CLIENT[c]} | {s} | {v} |")
        self.w()

    def errors(self):
        errs = [r for r in self.rows if r.get("error")]
        if not errs:
            return
        self.w("## Errors")
        self.w()
        for r in errs:
            what = " ".join(str(r.get(k)) for k in ("case", "client", "proto", "dir", "server")
                            if r.get(k) is not None)
            self.w(f"- {what}: `{str(r['error'])[:600]}`")
        self.w()

    def summary(self):
        self.w("## Targets (ratios measured in this run)")
        self.w()
        self.w("| case | ferryd | best peer (this run) | ratio | target | status |")
        self.w("|---|---|---|---|---|---|")
        for case, f, peer, r, target, ok in self.targets:
            self.w(f"| {case} | {f} | {peer} | {r} | {target} | {verdict(ok)} |")
        met = sum(1 for t in self.targets if t[5])
        self.w()
        self.w(f"{met} of {len(self.targets)} targets met.")
        self.w()

    def render(self):
        self.header()
        body_start = len(self.out)
        self.ceilings()
        self.bulk()
        self.small()
        self.small8()
        self.latency()
        self.concurrent()
        self.enumeration()
        self.memory()
        self.idle()
        self.integrity()
        self.errors()
        body = self.out[body_start:]
        self.out = self.out[:body_start]
        self.summary()
        self.out.extend(body)
        return "\n".join(self.out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("-o", "--output")
    a = ap.parse_args()
    text = Report(a.dir).render()
    if a.output:
        with open(a.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
