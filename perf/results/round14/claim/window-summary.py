#!/usr/bin/env python3
"""Summarise window-ab.sh's JSON rows: per build, transport and api, medians over near same-probe rows (both probes
< 200 ns and within 20 ns of each other) of p50, p99, p99.9 and of p50 / probe p50 and p99 / probe p99 (the probe's
before/after mean); then B - A paired within each round."""
import glob, json, os, re, statistics as st, sys
from collections import defaultdict
rows = defaultdict(list); byround = defaultdict(dict)
for path in sorted(glob.glob(os.path.join(sys.argv[1], "pp-r*-*.json"))):
    m = re.search(r"pp-r(\d+)-(\w+)\.json", path); rnd, build = int(m.group(1)), m.group(2)
    for r in json.load(open(path))["results"]:
        if r.get("status") != "ok": continue
        pb, pa = r["probe_ns_before"], r["probe_ns_after"]
        if not (pb < 200 and pa < 200 and abs(pb - pa) <= 20): continue
        probe = (pb + pa) / 2; probe99 = (r["probe_p99_ns_before"] + r["probe_p99_ns_after"]) / 2
        key = (r["transport"], r["api"])
        v = dict(p50=r["p50_ns"], p99=r["p99_ns"], p999=r["p999_ns"], r50=r["p50_ns"] / probe, r99=r["p99_ns"] / probe99, probe=probe)
        rows[(build, key)].append(v); byround[(rnd, key)][build] = v
keys = sorted({k for _, k in rows})
builds = sorted({b for b, _ in rows})
print("near same-probe rows: median p50 / p99 / p99.9 ns, p50 over probe p50, p99 over probe p99, probe p50 (n rows)")
for key in keys:
    for b in builds:
        v = rows.get((b, key), [])
        if not v: continue
        med = lambda f: st.median(x[f] for x in v)
        print(f"{key[0]:8} {key[1]:10} {b}: {med('p50'):6.0f} {med('p99'):6.0f} {med('p999'):7.0f}   {med('r50'):.2f}x  {med('r99'):.2f}x   probe {med('probe'):5.0f}  (n={len(v)})")
print("\npaired in the same round (both near, same probe), B - A:")
for key in keys:
    d50 = [x["B"]["p50"] - x["A"]["p50"] for (r, k), x in byround.items() if k == key and "A" in x and "B" in x]
    d99 = [x["B"]["p99"] - x["A"]["p99"] for (r, k), x in byround.items() if k == key and "A" in x and "B" in x]
    if d50:
        print(f"{key[0]:8} {key[1]:10} p50 median {st.median(d50):+6.0f} ns (B lower in {sum(d < 0 for d in d50)}, higher in {sum(d > 0 for d in d50)} of {len(d50)}); p99 median {st.median(d99):+6.0f} (lower {sum(d < 0 for d in d99)}, higher {sum(d > 0 for d in d99)})")
