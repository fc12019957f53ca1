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
                      f"  p50 mean {st.mean(v[step][0] for v in r):5.1f}  p50/probe median {st.median(ratio):.2f} mean {st.mean(ratio):.3f} [{min(ratio):.2f}-{max(ratio):.2f}]"
                      f"  p99 median {st.median(v[step][1] for v in r):5.0f} (probe {st.median(v['probe'][1] for v in r):4.0f}) p99/probe median {st.median(ratio99):.2f}")
else:
    # pingpong: the JSON files ab.sh wrote beside the text (pp-r<round>-<build>.json); path is that directory
    import json, glob, os
    rows = []
    for f in sorted(f for d in sys.argv[2:] for f in glob.glob(os.path.join(d, 'pp-r*-*.json'))):
        rnd, b = re.match(r'pp-r(\d+)-(\w)\.json', os.path.basename(f)).groups()
        rnd = os.path.dirname(f) + '#' + rnd
        for x in json.load(open(f))['results']:
            if x.get('api') != 'poll-claim' or x.get('status') != 'ok' or x.get('probe_moved'):
                continue
            pa, pb = x['probe_ns_before'], x['probe_ns_after']
            if abs(pa - pb) > 20:
                continue
            q99 = (x['probe_p99_ns_before'] + x['probe_p99_ns_after']) / 2
            rows.append((rnd, b, x['transport'], x['p50_ns'], x['p99_ns'], (pa + pb) / 2, q99))
    for place, sel in (('near', lambda p: p < 250), ('far', lambda p: p >= 250)):
        for t in ('iic', 'iic-single', 'raw-shm'):
            for b in 'AB':
                r = [x for x in rows if x[1] == b and x[2] == t and sel(x[5]) and x[3] < 5 * x[5]]
                if not r: continue
                print(f"{place:4} {t:10} {b}: {len(r):2} rows  p50 " + ' '.join(f"{x[3]:.0f}" for x in r) +
                      f"  median {st.median(x[3] for x in r):.0f} ns, p50/probe median {st.median(x[3]/x[5] for x in r):.2f};"
                      f" p99 median {st.median(x[4] for x in r):.0f}, p99/probe-p99 median {st.median(x[4]/x[6] for x in r):.2f}")

if kind == 'linelab':
    # Paired: run i of A against run i of B (adjacent in time), when all six probes are within 20 ns of each other.
    runs = []
    cur = None
    for line in text:
        m = re.match(r'=== run (\d+) build (\w)', line)
        if m: cur = (int(m.group(1)), m.group(2), []); runs.append(cur); continue
        if line.startswith('round') and cur:
            v = dict((k, (float(a), float(b))) for k, a, b in re.findall(r'(\S+) (\d+)/(\d+)', line))
            cur[2].append(v)
    byrun = {}
    for i, b, rs in runs:
        byrun.setdefault(i, {})[b] = rs
    diffs, rdiff, n_lower, n_higher = [], [], 0, 0
    for i in sorted(byrun):
        if set(byrun[i]) != {'A', 'B'}: continue
        pa = [v['probe'][0] for v in byrun[i]['A']]; pb = [v['probe'][0] for v in byrun[i]['B']]
        if max(pa + pb) - min(pa + pb) > 20: continue
        ca = st.mean(v['channel-own'][0] for v in byrun[i]['A']); cb = st.mean(v['channel-own'][0] for v in byrun[i]['B'])
        ra = st.mean(v['channel-own'][0] / v['probe'][0] for v in byrun[i]['A']); rb = st.mean(v['channel-own'][0] / v['probe'][0] for v in byrun[i]['B'])
        diffs.append(cb - ca); rdiff.append(rb - ra)
        n_lower += cb < ca; n_higher += cb > ca
        print(f"pair {i:2}: probe {st.mean(pa):5.0f}/{st.mean(pb):5.0f}  channel-own p50 A {ca:5.1f} B {cb:5.1f} (B-A {cb-ca:+5.1f} ns; ratio {ra:.2f} -> {rb:.2f})")
    if diffs:
        print(f"paired, same placement: {len(diffs)} pairs, B-A mean {st.mean(diffs):+.1f} ns, median {st.median(diffs):+.1f}; B lower in {n_lower}, higher in {n_higher}; ratio B-A mean {st.mean(rdiff):+.3f}")

if kind == 'pingpong':
    # Paired: round i's A row against round i's B row of the same transport (about 10 s apart), both near, all four
    # probes within 20 ns.
    for t in ('iic', 'iic-single', 'raw-shm'):
        d50, d99, lower, higher = [], [], 0, 0
        for rnd in sorted(set(x[0] for x in rows)):
            a = [x for x in rows if x[0] == rnd and x[1] == 'A' and x[2] == t]
            b = [x for x in rows if x[0] == rnd and x[1] == 'B' and x[2] == t]
            if not a or not b: continue
            a, b = a[0], b[0]
            if a[5] >= 250 or b[5] >= 250 or abs(a[5] - b[5]) > 20 or a[3] > 5 * a[5] or b[3] > 5 * b[5]: continue
            d50.append(b[3] - a[3]); d99.append(b[4] - a[4]); lower += b[3] < a[3]; higher += b[3] > a[3]
        if d50:
            print(f"paired near {t:10}: {len(d50)} pairs, p50 B-A mean {st.mean(d50):+.1f} ns median {st.median(d50):+.1f} (B lower in {lower}, higher in {higher}); p99 B-A median {st.median(d99):+.1f}")
