#!/usr/bin/env python3
"""Summarises ab.sh's raw/*.json: per round and config the 32 B one-way rows (M msgs/s) and the poll-claim echo
(p50/p99 ns), each with its probes; then, over rounds whose rows all kept a near probe (both probes < 200 ns, not
moved), the medians per config of: iic poll M msgs/s, iic poll / raw-shm poll in the same run, iic receive / raw-shm
receive, and iic poll-claim p50 and p99 over the probe's p50 and p99 (the targets' ratios). Far rows are listed apart."""
import glob, json, os, re, statistics, sys
from collections import defaultdict

here = os.path.dirname(os.path.abspath(__file__))
raw = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, 'raw')

def near(r):
    b, a = r.get('probe_ns_before'), r.get('probe_ns_after')
    return b is not None and a is not None and b < 200 and a < 200 and not r.get('probe_moved')

def far(r):
    b, a = r.get('probe_ns_before'), r.get('probe_ns_after')
    return b is not None and a is not None and b > 400 and a > 400 and not r.get('probe_moved')

# The regime of each iic poll row, from ab.sh's logs (ab-*.txt next to raw/): messages per non-empty poll in the sink.
regime = {}
for log in sorted(glob.glob(os.path.join(os.path.dirname(raw), 'ab-*.txt'))):
    key = None
    for line in open(log):
        m = re.match(r'=== round (\d+) cfg ([A-Z]) (\w+)', line)
        if m:
            key = (int(m.group(1)), m.group(2)) if m.group(3) == 'throughput' else None
            continue
        m = re.search(r'poll stats .*?([0-9.]+) per non-empty poll', line)
        if m and key:
            regime[key] = float(m.group(1))

rows = defaultdict(dict)  # (round, cfg) -> key -> row
for path in sorted(glob.glob(os.path.join(raw, '*.json'))):
    m = re.match(r'(thr|pp)-r(\d+)-([A-Z])\.json', os.path.basename(path))
    if not m:
        continue
    kind, rnd, cfg = m.group(1), int(m.group(2)), m.group(3)
    for r in json.load(open(path))['results']:
        if r.get('test') not in ('throughput', 'pingpong') or r.get('status') != 'ok':
            continue
        rows[(rnd, cfg)][(r['test'], r['transport'], r['api'])] = r

def fmt_probe(r):
    return f"{r.get('probe_ns_before','?')}/{r.get('probe_ns_after','?')}{' MOVED' if r.get('probe_moved') else ''}"

ratios = defaultdict(lambda: defaultdict(list))
for (rnd, cfg) in sorted(rows):
    d = rows[(rnd, cfg)]
    parts = []
    ip, rp = d.get(('throughput', 'iic', 'poll')), d.get(('throughput', 'raw-shm', 'poll'))
    ir, rr = d.get(('throughput', 'iic', 'receive')), d.get(('throughput', 'raw-shm', 'receive'))
    pc = d.get(('pingpong', 'iic', 'poll-claim'))
    rpc = d.get(('pingpong', 'raw-shm', 'poll-claim'))
    for name, r in (('iic poll', ip), ('raw poll', rp), ('iic recv', ir), ('raw recv', rr)):
        if r:
            extra = f", {regime[(rnd, cfg)]:.0f}/poll" if name == 'iic poll' and (rnd, cfg) in regime else ''
            parts.append(f"{name} {r['msgs_per_s']/1e6:5.1f} M ({fmt_probe(r)}{extra})")
    for name, r in (('iic pc', pc), ('raw pc', rpc)):
        if r:
            parts.append(f"{name} {r['p50_ns']}/{r['p99_ns']} ns ({fmt_probe(r)}, probe p99 {r.get('probe_p99_ns_before','?')})")
    print(f"round {rnd} {cfg}: " + '; '.join(parts))
    for place, ok in (('near', near), ('far', far)):
        if ip and ok(ip):
            ratios[place][(cfg, 'iic poll M/s')].append(ip['msgs_per_s'] / 1e6)
        if ip and rp and ok(ip) and ok(rp):
            ratios[place][(cfg, 'iic poll / raw-shm poll')].append(ip['msgs_per_s'] / rp['msgs_per_s'])
        if ir and rr and ok(ir) and ok(rr):
            ratios[place][(cfg, 'iic receive / raw-shm receive')].append(ir['msgs_per_s'] / rr['msgs_per_s'])
        if rp and ok(rp):
            ratios[place][(cfg, 'raw-shm poll M/s')].append(rp['msgs_per_s'] / 1e6)
        if ip and ok(ip) and (rnd, cfg) in regime:
            ratios[place][(cfg, 'iic poll: polls that drained (>=128/poll)')].append(1.0 if regime[(rnd, cfg)] >= 128 else 0.0)
            ratios[place][(cfg, 'iic poll: messages per poll')].append(regime[(rnd, cfg)])
        if pc and ok(pc):
            ratios[place][(cfg, 'iic poll-claim p50 / probe p50')].append(pc['p50_ns'] / pc['probe_ns_before'])
            if pc.get('probe_p99_ns_before'):
                ratios[place][(cfg, 'iic poll-claim p99 / probe p99')].append(pc['p99_ns'] / pc['probe_p99_ns_before'])
            ratios[place][(cfg, 'iic poll-claim p50 ns')].append(pc['p50_ns'])

for place in ('near', 'far'):
    print(f"\n{place} rows only (median [min-max], n):")
    keys = sorted({k[1] for k in ratios[place]})
    for key in keys:
        line = f"  {key:34s}"
        for cfg in ('A', 'B', 'C', 'D', 'E'):
            v = ratios[place].get((cfg, key), [])
            if v and 'drained' in key:
                line += f"  {cfg}: {sum(v):.0f} of {len(v)}"
            elif v:
                line += f"  {cfg}: {statistics.median(v):7.2f} [{min(v):.2f}-{max(v):.2f}] n={len(v)}"
        print(line)
