#!/usr/bin/env python3
"""Runs the issue's simulator targets and prints a Markdown table of what
was measured. Usage: python3 swim-sim/scripts/targets.py [--quick]

Builds swim-sim in release, then runs each scenario over its seeds with
`swim-sim run --json`. Everything is on virtual time except the 10,000-node
wall-clock and RSS figures (taken with /usr/bin/time when present)."""
import json, os, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIM = os.path.join(ROOT, "target", "release", "swim-sim")
QUICK = "--quick" in sys.argv


def run(args):
    out = subprocess.run([SIM, "run", "--quiet", "--json"] + args, capture_output=True, text=True)
    return json.loads(out.stdout)


def seeds(n):
    return range(1, (3 if QUICK else n) + 1)


def crash(nodes, n_seeds):
    all_failed, fp, viol = [], 0, 0
    for s in seeds(n_seeds):
        r = run(["--nodes", str(nodes), "--duration", "60", "--crash", str(max(1, nodes // 100)),
                 "--crash-at", "30", "--seed", str(s)])
        all_failed += [c["all_failed_s"] for c in r["detection"]["crashes"] if c["all_failed_s"] is not None]
        fp += r["false_positives"]["failed_events_about_live"]
        viol += r["violations"]
    return (f"median {statistics.median(all_failed):.2f} s, max {max(all_failed):.2f} s "
            f"over {len(all_failed)} crashes; {fp} false Failed; {viol} violations")


def loss(p, nodes=100, secs=300, n_seeds=10):
    fp, distinct, viol = 0, 0, 0
    for s in seeds(n_seeds):
        r = run(["--nodes", str(nodes), "--duration", str(secs), "--loss", str(p), "--seed", str(s)])
        fp += r["false_positives"]["failed_events_about_live"]
        distinct += r["false_positives"]["distinct_live_declared_failed"]
        viol += r["violations"]
    return f"{fp} false Failed events ({distinct} distinct members) over {len(seeds(n_seeds))} seeds; {viol} violations"


def slow(lifeguard):
    fp = 0
    for s in seeds(3):
        args = ["--nodes", "50", "--duration", "200", "--slow", "2", "--slow-ms", "1000", "--seed", str(s)]
        if not lifeguard:
            args.append("--no-lifeguard")
        fp += run(args)["false_positives"]["failed_events_about_live"]
    return fp


def steady(nodes):
    r = run(["--nodes", str(nodes), "--duration", "60", "--seed", "1"])
    l = r["load"]
    return (f"{l['datagrams_per_member_per_period']:.2f} datagrams, {l['bytes_per_member_per_period']:.1f} B "
            f"per member per period; largest datagram {l['max_datagram_bytes']} B")


def dissemination():
    r = run(["--nodes", "1000", "--duration", "40", "--seed", "1"])
    return f"{r['dissemination_rounds']:.2f} periods"


def partition(nodes, n_seeds):
    heal = []
    for s in seeds(n_seeds):
        r = run(["--nodes", str(nodes), "--duration", "150", "--partition-at", "30", "--heal-at", "90", "--seed", str(s)])
        heal.append(r["convergence"]["seconds_after_heal"] if r["convergence"]["converged"] else float("inf"))
    return f"full live set {statistics.median(heal):.1f} s (median), {max(heal):.1f} s (max) after the heal"


def scale():
    cmd = [SIM, "run", "--quiet", "--json", "--nodes", "10000", "--duration", "60", "--crash", "100",
           "--crash-at", "30", "--seed", "1", "--bootstrap"]
    timed = os.path.exists("/usr/bin/time")
    if timed:
        cmd = ["/usr/bin/time", "-v"] + cmd
    t0 = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - t0
    r = json.loads(out.stdout)
    rss = "?"
    for line in out.stderr.splitlines():
        if "Maximum resident set size" in line:
            rss = f"{int(line.split()[-1]) / 1024 / 1024:.2f} GiB"
    d = r["detection"]
    return (f"{wall:.0f} s wall, peak RSS {rss}; detection median {d['all_failed_median_s']:.2f} s, "
            f"max {d['all_failed_max_s']:.2f} s; {r['violations']} violations")


def main():
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "swim-sim"], cwd=ROOT, check=True)
    rows = [
        ("1% crash, N=100: all live nodes report Failed, median ≤ 5 s, max ≤ 10 s", lambda: crash(100, 10)),
        ("1% crash, N=1,000", lambda: crash(1000, 5)),
        ("10% loss, N=100, 10 seeds × 300 s: no live member Failed", lambda: loss(0.1)),
        ("30% loss, same", lambda: loss(0.3)),
        ("50% loss (report)", lambda: loss(0.5)),
        ("slow node (2 of 50 handle datagrams 1 s late, 200 s, 3 seeds): Lifeguard ≥ 10× fewer false Failed",
         lambda: f"{slow(True)} with Lifeguard vs {slow(False)} without"),
        ("steady state N=100: ≤ 2.1 datagrams, ≤ 60 B per member per period", lambda: steady(100)),
        ("steady state N=1,000", lambda: steady(1000)),
        ("update reaches 99.9% of N=1,000 within 17 periods", dissemination),
        ("50/50 partition 60 s then heal, N=100: full live set within 30 s", lambda: partition(100, 10)),
        ("same, N=1,000", lambda: partition(1000, 3)),
        ("N=10,000, 60 s, 1% crashes: ≤ 90 s wall, ≤ 4 GiB RSS (--bootstrap)", scale),
    ]
    print("| target | measured |")
    print("|---|---|")
    for name, f in rows:
        print(f"| {name} | {f()} |", flush=True)


if __name__ == "__main__":
    main()
