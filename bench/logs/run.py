#!/usr/bin/env python3
"""Benchmarks `mxray logs` against pflogsumm (Debian's) on one generated Postfix log, in one run:
throughput in MB/s on one core and on two, peak memory (max RSS), and the ratio; then compares
the delivered / deferred / bounced counts of both on the real-Postfix fixture.

Usage: run.py [--mxray PATH] [--size-mb N] [--data DIR] [--runs N]
Needs: pflogsumm (apt-get install pflogsumm), taskset (util-linux), a release build of mxray.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "logs", "postfix-debian12.log")


def measure(cmd, cpus=None):
    """Runs cmd (stdout discarded), returns (seconds, max RSS in MiB, stdout)."""
    if cpus:
        cmd = ["taskset", "-c", cpus] + cmd
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    elapsed = time.perf_counter() - start
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed with {p.returncode}")
    return elapsed, ru.ru_maxrss / 1024, out


def best(cmd, runs, cpus=None):
    results = [measure(cmd, cpus) for _ in range(runs)]
    return min(results, key=lambda r: r[0])


def units(n, suffix):
    """pflogsumm abbreviates large counts (`715k`, `1m`): return the number and whether exact."""
    return int(n) * {"": 1, "k": 1024, "m": 1024 * 1024}[suffix], suffix == ""


def pflogsumm_counts(text):
    counts = {}
    for key in ("received", "delivered", "deferred", "bounced", "rejected"):
        m = re.search(r"^\s*(\d+)([km]?)\s+" + key + r"\b(?:\s+\((\d+)([km]?)\s+deferrals\))?", text, re.M)
        counts[key] = units(m.group(1), m.group(2)) if m else None
        if key == "deferred" and m and m.group(3):
            counts["deferrals"] = units(m.group(3), m.group(4))
    return counts


def show(n):
    if n is None:
        return "-"
    value, exact = n
    return str(value) if exact else f"~{value} (rounded by pflogsumm)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mxray", default=os.path.join(ROOT, "target", "release", "mxray"))
    ap.add_argument("--size-mb", type=float, default=1024)
    ap.add_argument("--data", default=os.path.join(HERE, "data"))
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    os.makedirs(args.data, exist_ok=True)
    log = os.path.join(args.data, f"postfix-{int(args.size_mb)}mb.log")
    if not os.path.exists(log):
        print(f"generating {log} ...", flush=True)
        subprocess.run([sys.executable, os.path.join(HERE, "gen.py"), log, str(args.size_mb)], check=True)
    size_mb = os.path.getsize(log) / 1e6
    # Warm the page cache so every tool reads from memory.
    with open(log, "rb") as f:
        while f.read(1 << 24):
            pass
    print(f"input: {log}: {size_mb:.0f} MB, {os.cpu_count()} cores", flush=True)

    mx = [args.mxray, "logs", log, "--json", "--year", "2026"]
    t1, rss1, out1 = best(mx + ["--threads", "1"], args.runs, cpus="0")
    t2, rss2, _ = best(mx + ["--threads", "2"], args.runs, cpus="0,1")
    tp, rssp, outp = measure(["pflogsumm", log], cpus="0")
    rep = json.loads(out1)
    rows = [
        ("mxray logs, 1 core (--threads 1)", t1, rss1),
        ("mxray logs, 2 cores (--threads 2)", t2, rss2),
        ("pflogsumm, 1 core", tp, rssp),
    ]
    print(f"\n{'tool':<36}{'seconds':>10}{'MB/s':>10}{'max RSS MiB':>14}")
    for name, t, rss in rows:
        print(f"{name:<36}{t:>10.2f}{size_mb / t:>10.0f}{rss:>14.0f}")
    print(f"\nratio vs pflogsumm: {tp / t1:.1f}x on one core, {tp / t2:.1f}x on two")
    tot = rep["totals"]
    pf = pflogsumm_counts(outp.decode("utf-8", "replace"))
    print("\ncounts on the generated log (mxray / pflogsumm):")
    for k_mx, k_pf in (("received", "received"), ("delivered", "delivered"), ("deferred_messages", "deferred"),
                       ("deferrals", "deferrals"), ("bounced", "bounced"), ("rejected", "rejected")):
        print(f"  {k_mx:<18}{tot[k_mx]:>10} {show(pf.get(k_pf)):>10}")

    if os.path.exists(FIXTURE):
        _, _, o = measure([args.mxray, "logs", FIXTURE, "--json", "--year", "2026"])
        tot = json.loads(o)["totals"]
        _, _, p = measure(["pflogsumm", FIXTURE])
        pf = pflogsumm_counts(p.decode("utf-8", "replace"))
        print(f"\ncounts on the real Postfix fixture {os.path.relpath(FIXTURE, ROOT)} (mxray / pflogsumm):")
        for k_mx, k_pf in (("received", "received"), ("delivered", "delivered"), ("deferred_messages", "deferred"),
                           ("deferrals", "deferrals"), ("bounced", "bounced"), ("rejected", "rejected")):
            print(f"  {k_mx:<18}{tot[k_mx]:>10} {show(pf.get(k_pf)):>10}")
        print(f"  {'expired':<18}{tot['expired']:>10} {'(n/a)':>10}")


if __name__ == "__main__":
    main()
