#!/usr/bin/env python3
"""Summarise ab.sh's JSON rows: per build, transport and api, medians over near same-probe rows (both probes < 200 ns
and within 20 ns of each other) of p50, p99, p99.9 and of p50 / probe p50, p99 / probe p99; the share of rows meeting
1.15x (p50) and 1.5x (p99); then each build's paired difference to the others within a round."""
import glob, json, os, re, statistics as st, sys, itertools
from collections import defaultdict
rows = defaultdict(list); byround = defaultdict(dict)
for path in sorted(glob.glob(os.path.join(sys.argv[1], "pp-r*-*.json"))):
    m = re.search(r"pp-r(\d+)-(\w+)\.json", path); rnd, build = int(m.group(1)), m.group(2)
    try: doc = json.load(open(path))
    except Exception: continue
    for r in doc["results"]:
        if r.get("status") != "ok": continue
        pb, pa = r["probe_ns_before"], r["probe_ns_after"]
        if pb is None or pa is None or not (pb < 200 and pa < 200 and abs(pb - pa) <= 20): continue
        probe = (pb + pa) / 2; probe99 = (r["probe_p99_ns_before"] + r["probe_p99_ns_after"]) / 2
        key = (r["transport"], r["api"])
        v = dict(p50=r["p50_ns"], p99=r["p99_ns"], p999=r["p999_ns"], r50=r["p50_ns"] / probe, r99=r["p99_ns"] / probe99, probe=probe)
        rows[(build, key)].append(v); byround[(rnd, key)][build] = v
keys = sorted({k for _, k in rows}); builds = sorted({b for b, _ in rows})
print("near same-probe rows: median p50 / p99 / p99.9 ns, p50/probe, p99/probe99, probe p50, rows with p50/probe <= 1.15 and p99/probe99 <= 1.5 (n rows)")
for key in keys:
    for b in builds:
        v = rows.get((b, key), [])
        if not v: continue
        med = lambda f: st.median(x[f] for x in v)
        ok50 = sum(x["r50"] <= 1.15 for x in v); ok99 = sum(x["r99"] <= 1.5 for x in v)
        print(f"{key[0]:8} {key[1]:10} {b}: {med('p50'):6.0f} {med('p99'):6.0f} {med('p999'):7.0f}   {med('r50'):.3f}x  {med('r99'):.3f}x   probe {med('probe'):5.1f}   p50 ok {ok50}/{len(v)}, p99 ok {ok99}/{len(v)}")
print("\npaired in the same round (both near, same probe):")
for key in keys:
    for x, y in itertools.combinations(builds, 2):
        d50 = [r[y]["p50"] - r[x]["p50"] for (n, k), r in byround.items() if k == key and x in r and y in r]
        d99 = [r[y]["p99"] - r[x]["p99"] for (n, k), r in byround.items() if k == key and x in r and y in r]
        if d50:
            print(f"{key[0]:8} {key[1]:10} {y}-{x}: p50 median {st.median(d50):+5.0f} ns mean {st.mean(d50):+6.1f} (lower {sum(d < 0 for d in d50)}, higher {sum(d > 0 for d in d50)} of {len(d50)}); p99 median {st.median(d99):+5.0f} (lower {sum(d < 0 for d in d99)}, higher {sum(d > 0 for d in d99)})")
