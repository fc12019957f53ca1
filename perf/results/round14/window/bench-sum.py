#!/usr/bin/env python3
"""Medians per variant over bench-ab.sh output: the in-process cycle's p50 and each thread's CPU µs per cycle
(the lower-tid 'IIC hypervisor' thread is the helper, started in the constructor; the higher one the event loop)."""
import re, sys, statistics as st
rows = {}
cur = None
for line in open(sys.argv[1], encoding="utf-8"):
    m = re.match(r"== bench (\S+) ", line)
    if m:
        cur = {"threads": []}; rows.setdefault(m.group(1), []).append(cur); continue
    if line.startswith("== "):
        cur = None; continue
    if cur is None:
        continue
    m = re.search(r"p50 ([\d.]+) us", line)
    if m and "connect + first" in line:
        cur["p50"] = float(m.group(1))
    m = re.match(r"\s+cpu µs per cycle:\s+([\d.]+)\s+(\d+) (.*)", line)
    if m:
        cur["threads"].append((int(m.group(2)), m.group(3).strip(), float(m.group(1))))
for v, rs in rows.items():
    per = {}
    for r in rs:
        hv = sorted([t for t in r["threads"] if t[1].startswith("IIC hypervisor")])
        names = {}
        if len(hv) == 2:
            names[hv[0][0]] = "hypervisor helper"; names[hv[1][0]] = "hypervisor loop"
        total = 0.0
        for tid, name, cpu in r["threads"]:
            key = names.get(tid, name)
            per.setdefault(key, []).append(cpu); total += cpu
        per.setdefault("all threads", []).append(total)
    p50s = [r["p50"] for r in rs]
    listed = " ".join(f"{x:.0f}" for x in p50s)
    print(f"{v:7s} rounds {len(rs)}  cycle p50 median {st.median(p50s):.1f} us  ({listed})")
    for key in sorted(per):
        listed = " ".join(f"{x:.0f}" for x in per[key])
        print(f"    {key:20s} cpu µs/cycle median {st.median(per[key]):6.1f}  ({listed})")
