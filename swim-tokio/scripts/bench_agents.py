#!/usr/bin/env python3
"""Measures N `swim agent` processes on loopback (the issue's targets).

Usage: python3 swim-tokio/scripts/bench_agents.py [--agents 32] [--profile lan]
       [--idle-secs 30] [--kills 5] [--bin target/release/swim]
       [--runtime-join] [--limit 60]

Builds the lean `agent` profile binary unless --bin is given, starts one seed agent and
N-1 agents that join through it (127.0.0.1 only), then reports:
  - join: seconds from spawning the N-1 joiners until every agent printed
    `joined` for every other (from the agents' own JSON timestamps);
    with --runtime-join the N-1 agents start without --join, and once all
    of them are up (control socket present) each is sent `{"cmd":"join"}`
    through its control socket: the join is then timed from the first of
    those requests, without process start-up (1,024 agents take ~20 s just
    to start on 2 cores);
  - RSS per agent (VmRSS) after the cluster settled;
  - idle CPU per agent over --idle-secs (/proc/PID/schedstat run time);
  - kill -9 detection: for --kills victims in turn, seconds from the kill
    until every survivor printed `failed` for it (median and max).
Every wait is bounded; all agents are killed on exit, whatever happens.
"""

import argparse
import concurrent.futures
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_LIMIT = 60.0  # seconds: the longest any single wait may take


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class Agent:
    """One agent process and an incremental index of the JSON lines it
    printed (reading every line of 1,024 agents on every poll would not
    keep up)."""

    def __init__(self, binary, workdir, i, port, profile, seed):
        self.addr = f"127.0.0.1:{port}"
        self.out_path = os.path.join(workdir, f"agent{i}.out")
        self.err_path = os.path.join(workdir, f"agent{i}.err")
        self.control = os.path.join(workdir, f"agent{i}.sock")
        args = [binary, "agent", "--bind", self.addr, "--profile", profile,
                "--control", self.control, "--meta", f"index={i}"]
        if seed:
            args += ["--join", seed]
        env = dict(os.environ, RUST_LOG="warn")
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(args, stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL, env=env)
        self._offset = 0
        self._partial = b""
        # Members this agent printed `joined` for, and when the last was.
        self.joined = set()
        self.joined_ts = []
        self.last_joined = 0.0
        # (event, member) -> timestamps, for every other event.
        self.seen = {}

    def read(self):
        """Indexes the JSON lines printed since the last call."""
        with open(self.out_path, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        self._offset += len(data)
        data = self._partial + data
        # Only whole lines; a line being written has no newline yet.
        *lines, self._partial = data.split(b"\n")
        for line in lines:
            if not line.endswith(b"}"):
                continue
            e = json.loads(line)
            if e["event"] in ("joined", "alive") and e["member"] not in self.joined:
                # First seen alive: normally `joined`; `alive` when this
                # agent first heard of the member as suspected or failed.
                self.joined.add(e["member"])
                self.joined_ts.append(e["ts"])
                self.last_joined = max(self.last_joined, e["ts"])
            if e["event"] != "joined":
                self.seen.setdefault((e["event"], e["member"]), []).append(e["ts"])

    def times(self, event, member, since=0.0):
        return [t for t in self.seen.get((event, member), []) if t >= since]

    def request(self, obj, timeout=30.0):
        """One request on the control socket; the answer as JSON."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.control)
            s.sendall((json.dumps(obj) + "\n").encode())
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        return json.loads(buf)

    def cpu_secs(self):
        """CPU time used so far: nanoseconds from schedstat where the kernel
        has it, else utime+stime in clock ticks (10 ms resolution)."""
        try:
            with open(f"/proc/{self.proc.pid}/schedstat") as f:
                return int(f.read().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def pss_kb(self):
        """Proportional set size: shared pages (the binary, libc) divided
        among the processes mapping them."""
        with open(f"/proc/{self.proc.pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
        return 0

    def anon_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
        return 0

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


def udp_counters():
    """This network namespace's UDP counters (/proc/net/snmp), by name."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return dict(zip(rows[0][1:], map(int, rows[1][1:])))


def wait_until(what, cond, limit=None, poll=0.02):
    limit = limit or PAGE_LIMIT
    deadline = time.time() + limit
    while not cond():
        if time.time() > deadline:
            raise TimeoutError(f"timed out after {limit}s waiting for {what}")
        time.sleep(poll)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=32)
    ap.add_argument("--profile", default="lan")
    ap.add_argument("--idle-secs", type=float, default=30.0)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--bin")
    ap.add_argument("--runtime-join", action="store_true",
                    help="start every agent first, then join them through the control socket")
    ap.add_argument("--settle", type=float, default=0.0,
                    help="with --runtime-join: before joining, wait until the agents together "
                         "use less than this many cores (0.2 = 20%% of one) over 2 s")
    ap.add_argument("--limit", type=float, default=60.0,
                    help="seconds any single wait may take")
    args = ap.parse_args()
    global PAGE_LIMIT
    PAGE_LIMIT = args.limit
    # Poll less often with many agents: each poll reads every output file.
    poll = 0.02 if args.agents <= 64 else 0.25

    binary = args.bin
    if not binary:
        subprocess.run(["cargo", "build", "--profile", "agent", "-q", "-p", "swim-agent",
                        "--bin", "swim"], check=True)
        binary = "target/agent/swim"
    workdir = tempfile.mkdtemp(prefix="swim-bench-")
    agents = []
    try:
        ports = free_ports(args.agents)
        t_start = time.time()
        agents.append(Agent(binary, workdir, 0, ports[0], args.profile, None))
        wait_until("the seed's control socket", lambda: os.path.exists(agents[0].control), 10)
        t_spawn = time.time()
        seed = None if args.runtime_join else agents[0].addr
        for i in range(1, args.agents):
            agents.append(Agent(binary, workdir, i, ports[i], args.profile, seed))
        t_spawned = time.time()
        t_up = None
        if args.runtime_join:
            wait_until("every agent's control socket",
                       lambda: all(os.path.exists(a.control) for a in agents), poll=poll)
            t_up = time.time()
            settle_cores = None
            if args.settle > 0:
                def settled():
                    nonlocal settle_cores
                    before = sum(a.cpu_secs() for a in agents)
                    time.sleep(2.0)
                    settle_cores = (sum(a.cpu_secs() for a in agents) - before) / 2.0
                    return settle_cores < args.settle
                wait_until("the agents to settle", settled, poll=0)
            t_settled = time.time()
            cpu_before_join = sum(a.cpu_secs() for a in agents)
            udp_before_join = udp_counters()
            t_spawn = time.time()
            req = {"cmd": "join", "addrs": [agents[0].addr]}
            with concurrent.futures.ThreadPoolExecutor(32) as pool:
                answers = list(pool.map(lambda a: a.request(req), agents[1:]))
            bad = [x for x in answers if "error" in x]
            if bad:
                raise RuntimeError(f"{len(bad)} join requests refused, e.g. {bad[0]}")
            t_requested = time.time()

        # Join convergence: every agent printed joined for every other.
        addrs = [a.addr for a in agents]

        def converged():
            for a in agents:
                a.read()
            return all(len(a.joined) >= len(addrs) - 1 for a in agents)

        if args.agents > 64:
            # Parsing a million JSON lines while the agents join would take
            # CPU from them on this 2-core machine: watch only the output
            # files' sizes until they stop growing for 2 s, then parse (the
            # agents' own timestamps say when they converged).
            sizes = [None]

            def quiet():
                now = sum(os.stat(a.out_path).st_size for a in agents)
                still = now == sizes[0]
                sizes[0] = now
                return still and converged()

            wait_until("join convergence", quiet, poll=2.0)
        else:
            wait_until("join convergence", converged, poll=poll)
        last_join = max(a.last_joined for a in agents)
        join_secs = last_join - t_spawn
        join_cpu = None
        if args.runtime_join:
            # CPU the agents used from the first join request until the poll
            # that saw convergence: is the join bound by the machine?
            join_cpu = (sum(a.cpu_secs() for a in agents) - cpu_before_join,
                        time.time() - t_spawn)
            udp = udp_counters()
            join_udp = {k: udp.get(k, 0) - udp_before_join.get(k, 0)
                        for k in ("InDatagrams", "RcvbufErrors", "SndbufErrors", "InErrors")}
        # Share of all (agent, member) pairs known after 1, 2, 5, 10 s.
        all_ts = sorted(t - t_spawn for a in agents for t in a.joined_ts)
        pairs = len(agents) * (len(agents) - 1)
        known = {x: sum(1 for t in all_ts if t <= x) / pairs for x in (1, 2, 5, 10, 20)}

        # Settle, then idle CPU and RSS.
        time.sleep(3.0)
        before = [a.cpu_secs() for a in agents]
        t0 = time.time()
        time.sleep(args.idle_secs)
        after = [a.cpu_secs() for a in agents]
        elapsed = time.time() - t0
        cpu_pct = [100.0 * (b - a) / elapsed for a, b in zip(before, after)]
        rss_mb = [a.rss_kb() / 1024.0 for a in agents]
        pss_mb = [a.pss_kb() / 1024.0 for a in agents]
        anon_mb = [a.anon_kb() / 1024.0 for a in agents]
        for a in agents:
            a.read()
        false_failures = sum(len(ts) for a in agents for (ev, _), ts in a.seen.items() if ev == "failed")

        # kill -9 detection, one victim at a time (never the seed).
        detections, first_suspect, first_failed = [], [], []
        alive = list(agents)
        for k in range(min(args.kills, args.agents - 2)):
            victim = alive[-1]
            alive.remove(victim)
            for a in alive:
                a.read()
            t_kill = time.time()
            victim.proc.send_signal(signal.SIGKILL)
            victim.proc.wait()

            since = t_kill - 0.01

            def all_failed():
                for a in alive:
                    a.read()
                return all(a.times("failed", victim.addr, since) for a in alive)

            wait_until(f"kill #{k + 1} to be detected", all_failed, poll=poll)
            last = max(max(a.times("failed", victim.addr, since)) for a in alive)
            detections.append(last - t_kill)
            suspects = [t for a in alive for t in a.times("suspected", victim.addr, since)]
            failed = [t for a in alive for t in a.times("failed", victim.addr, since)]
            first_suspect.append(min(suspects, default=last) - t_kill)
            first_failed.append(min(failed) - t_kill)
            time.sleep(1.0)

        n = args.agents
        print(f"# {n} agents, profile {args.profile}, {binary}")
        if args.runtime_join:
            print(f"spawned {n - 1} agents in {t_spawned - t_start:.3f} s, all up (control socket) "
                  f"after {t_up - t_start:.3f} s, settled (agents using "
                  f"{settle_cores if settle_cores is not None else float('nan'):.2f} cores) after "
                  f"{t_settled - t_start:.3f} s; {n - 1} join requests sent in {t_requested - t_spawn:.3f} s")
        else:
            print(f"spawned {n - 1} joiners in {t_spawned - t_spawn:.3f} s")
        print(f"| metric | measured | target |")
        print(f"| --- | --- | --- |")
        how = "run-time join (from the first request)" if args.runtime_join else "join"
        target = "<= 1 s" if n <= 32 else ("<= 5 s" if args.runtime_join else "")
        print(f"| {how} of all {n} through one seed converged | {join_secs:.2f} s | {target} |")
        print("| ... share of all member pairs known after 1 / 2 / 5 / 10 / 20 s | "
              + " / ".join(f"{100 * v:.0f}%" for v in known.values()) + " | |")
        if join_cpu:
            print(f"| ... CPU used by all agents until convergence was seen | {join_cpu[0]:.1f} s in "
                  f"{join_cpu[1]:.1f} s ({join_cpu[0] / join_cpu[1]:.2f} cores of 2) | |")
            print(f"| ... UDP datagrams received / dropped for a full receive buffer (whole host, same window) | "
                  f"{join_udp['InDatagrams']} / {join_udp['RcvbufErrors']} "
                  f"(InErrors {join_udp['InErrors']}, SndbufErrors {join_udp['SndbufErrors']}) | |")
        print(f"| RSS per agent (median / max) | {statistics.median(rss_mb):.1f} / {max(rss_mb):.1f} MB | <= 4 MB |")
        print(f"| PSS per agent (shared pages split; median / max) | "
              f"{statistics.median(pss_mb):.1f} / {max(pss_mb):.1f} MB | |")
        print(f"| private anonymous memory per agent (median / max) | "
              f"{statistics.median(anon_mb):.2f} / {max(anon_mb):.2f} MB | |")
        print(f"| idle CPU per agent (mean / max, {args.idle_secs:.0f} s) | "
              f"{statistics.mean(cpu_pct):.3f}% / {max(cpu_pct):.3f}% | <= 0.05% |")
        if detections:
            print(f"| kill -9 until every survivor printed failed (median / max of {len(detections)}) | "
                  f"{statistics.median(detections):.2f} / {max(detections):.2f} s | <= 5 s |")
        if detections:
            print(f"| ... first `suspected` anywhere / first `failed` anywhere (median) | "
                  f"{statistics.median(first_suspect):.2f} / {statistics.median(first_failed):.2f} s | |")
        print(f"| failed lines printed before any kill (false positives) | {false_failures} | 0 |")
    finally:
        for a in agents:
            if a.proc.poll() is None:
                a.proc.send_signal(signal.SIGKILL)
        for a in agents:
            try:
                a.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        print(f"(agent output kept in {workdir})", file=sys.stderr)


if __name__ == "__main__":
    main()
