#!/usr/bin/env python3
"""Summarises ab-pause.sh's raw/*.json per config (N: IIC_SPIN_PAUSE=0, P: the pause, the new default): the 32 B one-way
iic poll and receive ratios over raw-shm (interleaved rounds' medians), and the poll-claim and receive echo p50/p99 of
iic over the placement probe and over raw-shm in the same run (rows whose probes stayed near: < 200 ns, not moved)."""
import glob, json, os, re, statistics, sys
from collections import defaultdict
raw = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), 'raw')
def near(r):
    b, a = r.get('probe_ns_before'), r.get('probe_ns_after')
    return b is not None and a is not None and b < 200 and a < 200 and not r.get('probe_moved')
acc = defaultdict(lambda: defaultdict(list))
for path in sorted(glob.glob(os.path.join(raw, '*.json'))):
    m = re.match(r'(thr|pp|rx)-r(\d+)-([A-Z])\.json', os.path.basename(path))
    if not m: continue
    kind, rnd, cfg = m.group(1), int(m.group(2)), m.group(3)
    rows = json.load(open(path))['results']
    line = []
    if kind == 'thr':
        for r in rows:
            if r.get('transport') == 'iic' and r.get('round_ratio_median') is not None:
                key = 'oneway-' + str(r.get('api'))
                acc[cfg][key].append(r['round_ratio_median'])
                line.append(f"{key} {r.get('msgs_per_s', 0)/1e6:.1f}M ratio {r['round_ratio_median']:.2f}")
    else:
        by = {r.get('transport'): r for r in rows if r.get('test') == 'pingpong'}
        iic, raw_ = by.get('iic'), by.get('raw-shm')
        if iic and near(iic):
            pb = (iic['probe_ns_before'] + iic['probe_ns_after']) / 2
            acc[cfg][kind + '-p50/probe'].append(iic['p50_ns'] / pb)
            acc[cfg][kind + '-p50'].append(iic['p50_ns']); acc[cfg][kind + '-p99'].append(iic['p99_ns'])
            line.append(f"iic {iic['p50_ns']:.0f}/{iic['p99_ns']:.0f} probe {pb:.0f}")
            if raw_ and near(raw_):
                acc[cfg][kind + '-p50/raw'].append(iic['p50_ns'] / raw_['p50_ns'])
                acc[cfg][kind + '-p99/raw'].append(iic['p99_ns'] / raw_['p99_ns'])
                line.append(f"raw-shm {raw_['p50_ns']:.0f}/{raw_['p99_ns']:.0f}")
        else:
            line.append('iic row not near' if iic else 'no iic row')
    print(f"r{rnd} {cfg} {kind}: " + '; '.join(line))
print()
for cfg in sorted(acc):
    print(cfg, '  '.join(f"{k} med {statistics.median(v):.3g} (n={len(v)})" for k, v in sorted(acc[cfg].items())))
