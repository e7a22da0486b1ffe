"""Server-side CPU and memory figures, per server, from cgroups and /proc.

CPU. A forking server (vsftpd, ProFTPD, pure-ftpd, sshd) runs each session in child processes
that exit when the session ends, and some of them are not reaped by the daemon: sshd's
post-auth child outlives its monitor and is reparented to init, so its CPU time never reaches
the daemon's cutime/cstime (measured: 0.03 s counted of 0.12 s used). So each server gets its
own cgroup v2 group (`<cgroup2 mount>/ferrybench/<name>`); every process it forks stays in the
group whoever reaps it, and `cpu.stat usage_usec` is exact. cpu.stat exists in every v2 group
even when no controller is enabled, so this also works on hybrid (v1 + unified) machines.
Without a writable cgroup2 mount the fallback is the /proc tree formula: the sum over the live
tree of utime+stime+cutime+cstime (exact for servers that reap their own children, an
undercount for sshd; the report says which method was used).

Memory. PSS (proportional set size) from /proc/<pid>/smaps_rollup shares each page among the
processes that map it, so the PSS sum over a forking server's processes is what it costs.
For ferryd (one process) RSS and PSS are both reported.
"""

import os
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid):
    """The fields of /proc/<pid>/stat after the command name (which may contain spaces)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    return data[data.rindex(b")") + 2:].split()


def children_map():
    """{ppid: [pid, ...]} for every process now alive."""
    kids = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(_stat_fields(entry)[1])
        except (OSError, ValueError, IndexError):
            continue  # the process exited while we looked
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def tree(pid):
    """pid and all its live descendants."""
    kids = children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def proc_tree_cpu_seconds(pid):
    """Fallback CPU figure: see the module doc."""
    ticks = 0
    for p in tree(pid):
        try:
            f = _stat_fields(p)
        except OSError:
            continue
        # after ")": state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
        ticks += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return ticks / CLK_TCK


def cgroup2_mount():
    with open("/proc/mounts") as f:
        for line in f:
            dev, mnt, fstype = line.split()[:3]
            if fstype == "cgroup2":
                return mnt
    return None


def _cgroup_of(pid):
    """The cgroup v2 path of pid (the "0::" line), relative to the mount."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                return line[3:].strip()
    return "/"


class Meter:
    """CPU and memory of one server (a daemon and everything it forks)."""

    def __init__(self, name, pid):
        self.name = name
        self.pid = pid
        self.cg = None
        self.origin = {}
        mount = cgroup2_mount()
        if mount:
            path = os.path.join(mount, "ferrybench", name)
            try:
                os.makedirs(path, exist_ok=True)
                self.mount, self.cg = mount, path
                self.attach(pid)
            except OSError:
                self.cg = None  # read-only or delegated elsewhere: use /proc

    @property
    def method(self):
        return "cgroup" if self.cg else "proc"

    def attach(self, pid):
        """Put the daemon (and any session it has now) into the group; a restarted daemon
        is attached again."""
        self.pid = pid
        if not self.cg:
            return
        for p in tree(pid):
            try:
                self.origin.setdefault(p, _cgroup_of(p))
                with open(os.path.join(self.cg, "cgroup.procs"), "w") as f:
                    f.write(str(p))
            except OSError:
                pass  # exited meanwhile

    def pids(self):
        if self.cg:
            with open(os.path.join(self.cg, "cgroup.procs")) as f:
                return [int(x) for x in f.read().split()]
        return tree(self.pid)

    def cpu_seconds(self):
        if self.cg:
            with open(os.path.join(self.cg, "cpu.stat")) as f:
                for line in f:
                    if line.startswith("usage_usec "):
                        return int(line.split()[1]) / 1e6
        return proc_tree_cpu_seconds(self.pid)

    def settle(self, baseline, timeout=5.0):
        """Wait until the server has no process beyond `baseline` (a set of pids): the last
        client's session processes have exited. Returns False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if set(self.pids()) <= baseline:
                return True
            time.sleep(0.02)
        return False

    def memory_kib(self):
        """(RSS sum, PSS sum, number of processes) over the server's processes, in KiB."""
        rss = pss = n = 0
        for p in self.pids():
            r = rollup(p)
            rss += r["Rss"]
            pss += r["Pss"]
            n += 1
        return rss, pss, n

    def close(self):
        """Move whatever still runs back to the cgroup it came from; remove the group."""
        if not self.cg:
            return
        for p in self.pids():
            back = os.path.join(self.mount, self.origin.get(p, "/").lstrip("/"),
                                "cgroup.procs")
            try:
                with open(back, "w") as f:
                    f.write(str(p))
            except OSError:
                pass
        for path in (self.cg, os.path.dirname(self.cg)):
            try:
                os.rmdir(path)
            except OSError:
                pass  # still in use (another meter), or gone


def rollup(pid):
    """{'Rss': kB, 'Pss': kB, ...} from /proc/<pid>/smaps_rollup (0s if it vanished)."""
    out = {"Rss": 0, "Pss": 0}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2] == "kB":
                    out[parts[0].rstrip(":")] = int(parts[1])
    except OSError:
        pass
    return out


def status_field(pid, name):
    """A numeric field of /proc/<pid>/status such as VmRSS or Threads (first number)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))
