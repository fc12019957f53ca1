#!/usr/bin/env python3
"""Summarise lab-abc.sh output: per build and step, the median over near rounds (probe p50 < 200 ns, step p50 < 5 us)
of p50, p99 and p50 minus the same round's probe p50."""
import re, sys, statistics as st
from collections import defaultdict
rows = defaultdict(lambda: defaultdict(list))
build = None
for line in open(sys.argv[1]):
    m = re.match(r"=== run \d+ build (\w+)", line)
    if m:
        build = m.group(1); continue
    if not line.startswith("round"):
        continue
    vals = dict((k, (int(a), int(b), float(t) if t else float(a))) for k, a, b, t in re.findall(r" ([\w-]+) (\d+)/(\d+)(?:~([\d.]+))?", line))
    if "probe" not in vals or vals["probe"][0] >= 200:
        continue
    probe = vals["probe"][0]
    tprobe = vals["probe"][2]
    for k, (p50, p99, tm) in vals.items():
        if p50 < 5000:
            rows[build][k].append((p50, p99, p50 - probe, tm, tm - tprobe))
steps = []
for b in rows:
    for k in rows[b]:
        if k not in steps: steps.append(k)
print("per build: median over near rounds of p50, p99, p50 - probe p50, trimmed mean (middle 80 %), trimmed mean - probe's (n rounds)")
print(f"{'step':14} " + " ".join(f"{b+': p50 p99 +probe  tmean  +probe (n)':>44}" for b in sorted(rows)))
for k in steps:
    cells = []
    for b in sorted(rows):
        v = rows[b].get(k, [])
        if not v: cells.append(f"{'-':>28}"); continue
        cells.append(f"{st.median(x[0] for x in v):8.0f} {st.median(x[1] for x in v):6.0f} {st.median(x[2] for x in v):+6.0f} {st.median(x[3] for x in v):7.1f} {st.median(x[4] for x in v):+6.1f} ({len(v):2d})")
    print(f"{k:14} " + " ".join(cells))
