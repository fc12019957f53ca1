#!/usr/bin/env python3
"""Pairs each config with A (main) in the same round (both rows near and unmoved) and reports, per config: how often the
config's value is above / below A's, and the median paired difference. Rows: iic poll M/s, iic poll / raw-shm poll (each
from its own run), iic poll-claim p50 and p99 (ns). Also the fraction of near iic-poll rows at or above 0.8x raw-shm."""
import glob, json, os, re, statistics, sys
from collections import defaultdict

here = os.path.dirname(os.path.abspath(__file__))
raw = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, 'raw')

def near(r):
    return r and r.get('probe_ns_before', 999) < 200 and r.get('probe_ns_after', 999) < 200 and not r.get('probe_moved')

rows = defaultdict(dict)
for path in glob.glob(os.path.join(raw, '*.json')):
    m = re.match(r'(thr|pp)-r(\d+)-([A-Z])\.json', os.path.basename(path))
    if not m:
        continue
    for r in json.load(open(path))['results']:
        if r.get('status') == 'ok' and r.get('test') in ('throughput', 'pingpong'):
            rows[(int(m.group(2)), m.group(3))][(r['test'], r['transport'], r['api'])] = r

def metrics(d):
    out = {}
    ip, rp = d.get(('throughput', 'iic', 'poll')), d.get(('throughput', 'raw-shm', 'poll'))
    pc = d.get(('pingpong', 'iic', 'poll-claim'))
    if near(ip):
        out['iic poll M/s'] = ip['msgs_per_s'] / 1e6
        if near(rp):
            out['iic poll / raw-shm poll'] = ip['msgs_per_s'] / rp['msgs_per_s']
    if near(pc):
        out['poll-claim p50 ns'] = pc['p50_ns']
        out['poll-claim p99 ns'] = pc['p99_ns']
    return out

rounds = sorted({k[0] for k in rows})
cfgs = sorted({k[1] for k in rows})
for cfg in cfgs:
    if cfg == 'A':
        continue
    print(f"{cfg} against A, paired by round:")
    for key in ('iic poll M/s', 'iic poll / raw-shm poll', 'poll-claim p50 ns', 'poll-claim p99 ns'):
        diffs = []
        for rnd in rounds:
            a, b = metrics(rows.get((rnd, 'A'), {})), metrics(rows.get((rnd, cfg), {}))
            if key in a and key in b:
                diffs.append(b[key] - a[key])
        if diffs:
            print(f"  {key:26s} n={len(diffs):2d}  higher {sum(d > 0 for d in diffs):2d}  lower {sum(d < 0 for d in diffs):2d}  "
                  f"median diff {statistics.median(diffs):+.2f}  mean {statistics.mean(diffs):+.2f}")
print("near iic poll rows at >= 0.8x the same run's raw-shm poll:")
for cfg in cfgs:
    v = [metrics(rows[(rnd, cfg)]).get('iic poll / raw-shm poll') for rnd in rounds if (rnd, cfg) in rows]
    v = [x for x in v if x is not None]
    if v:
        print(f"  {cfg}: {sum(x >= 0.8 for x in v)} of {len(v)} (median {statistics.median(v):.2f})")
