#!/usr/bin/env python3
"""Summarises ab.sh's output: per build, each round's p50 (and p99) over the same round's probe (linelab), or the
32 B poll-claim rows whose two probes agree within 20 ns and did not move (pingpong), grouped by probe placement."""
import re, sys, statistics as st
kind, path = sys.argv[1], sys.argv[2]
text = open(path).read().split('\n') if kind == 'linelab' else []
build = None
if kind == 'linelab':
    rows = {'A': [], 'B': []}
    for line in text:
        m = re.match(r'=== run \d+ build (\w)', line)
        if m: build = m.group(1); continue
        if line.startswith('round'):
            v = dict((k, (float(a), float(b))) for k, a, b in re.findall(r'(\S+) (\d+)/(\d+)', line))
            if 'probe' in v and 'channel-own' in v:
                rows[build].append(v)
    for b in 'AB':
        for place, sel in (('near', lambda p: p < 250), ('far', lambda p: p >= 250)):
            r = [v for v in rows[b] if sel(v['probe'][0])]
            if not r: continue
            for step in ('iic-ring-own', 'channel-own'):
                ratio = [v[step][0] / v['probe'][0] for v in r]
                ratio99 = [v[step][1] / v['probe'][1] for v in r]
                print(f"{b} {place:4} {step:13} rounds {len(r):2}  p50 median {st.median(v[step][0] for v in r):5.0f} ns (probe {st.median(v['probe'][0] for v in r):4.0f})"
                      f"  p50/probe median {st.median(ratio):.2f} [{min(ratio):.2f}-{max(ratio):.2f}]"
                      f"  p99 median {st.median(v[step][1] for v in r):5.0f} (probe {st.median(v['probe'][1] for v in r):4.0f}) p99/probe median {st.median(ratio99):.2f}")
else:
    # pingpong: the JSON files ab.sh wrote beside the text (pp-r<round>-<build>.json); path is that directory
    import json, glob, os
    rows = []
    for f in sorted(glob.glob(os.path.join(path, 'pp-r*-*.json'))):
        rnd, b = re.match(r'pp-r(\d+)-(\w)\.json', os.path.basename(f)).groups()
        for x in json.load(open(f))['results']:
            if x.get('api') != 'poll-claim' or x.get('status') != 'ok' or x.get('probe_moved'):
                continue
            pa, pb = x['probe_ns_before'], x['probe_ns_after']
            if abs(pa - pb) > 20:
                continue
            q99 = (x['probe_p99_ns_before'] + x['probe_p99_ns_after']) / 2
            rows.append((int(rnd), b, x['transport'], x['p50_ns'], x['p99_ns'], (pa + pb) / 2, q99))
    for place, sel in (('near', lambda p: p < 250), ('far', lambda p: p >= 250)):
        for t in ('iic', 'iic-single', 'raw-shm'):
            for b in 'AB':
                r = [x for x in rows if x[1] == b and x[2] == t and sel(x[5]) and x[3] < 5 * x[5]]
                if not r: continue
                print(f"{place:4} {t:10} {b}: {len(r):2} rows  p50 " + ' '.join(f"{x[3]:.0f}" for x in r) +
                      f"  median {st.median(x[3] for x in r):.0f} ns, p50/probe median {st.median(x[3]/x[5] for x in r):.2f};"
                      f" p99 median {st.median(x[4] for x in r):.0f}, p99/probe-p99 median {st.median(x[4]/x[6] for x in r):.2f}")
