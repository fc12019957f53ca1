#!/usr/bin/env python3
"""Summarise sink's A/B files: one-way interleaved pairs (ow-i<idle>-r<n>.json) and sizes rows (sz-<stop>-r<n>.json).
usage: summarize.py DIR"""
import glob, json, os, random, re, statistics, sys

d = sys.argv[1]
random.seed(17)

def boot(xs, n=2000):
    if not xs: return (None, None, None)
    meds = sorted(statistics.median(random.choices(xs, k=len(xs))) for _ in range(n))
    return statistics.median(xs), meds[int(0.025 * n)], meds[int(0.975 * n) - 1]

def verdict(xs, target=80.0):
    m, lo, hi = boot(xs)
    if m is None: return 'no rounds'
    v = 'undecided' if len(xs) < 6 else 'met' if lo >= target else 'MISSED' if hi < target else 'undecided'
    return f'{m:5.1f} % [{lo:5.1f}-{hi:5.1f}] n={len(xs):2d} {v}'

def regime(x): return 'D' if x >= 128 else 'K'

print('# one-way 32 B poll, interleaved pairs: per run, all kept rounds (round 13 verdict) and same-regime rounds (round 14)')
configs = {}
for f in sorted(glob.glob(os.path.join(d, 'ow-i*-r*.json')) + glob.glob(os.path.join(d, 'i*-r*.json'))):
    cfg = re.search(r'i([^-/]+)-r(\d+)\.json$', f).group(1)
    rows = json.load(open(f))['results']
    iic = next((r for r in rows if r.get('transport') == 'iic' and r.get('round_ratios')), None)
    raw = next((r for r in rows if r.get('transport') == 'raw-shm' and r.get('interleaved_with')), None)
    if iic is None or raw is None:
        print(os.path.basename(f), 'no pair'); continue
    ratios = iic['round_ratios']; mp, rp = iic.get('round_msgs_per_poll') or [None]*10, raw.get('round_msgs_per_poll') or [None]*10
    allr = [100*r for r in ratios if r is not None]
    same = [100*r for r, a, b in zip(ratios, mp, rp) if r is not None and a is not None and b is not None and regime(a) == regime(b)]
    regs = ''.join('-- ' if r is None or a is None or b is None else regime(a)+regime(b)+' ' for r, a, b in zip(ratios, mp, rp))
    c = configs.setdefault(cfg, {'all': [], 'same': [], 'runs': [], 'iic': [], 'raw': [], 'probe': []})
    c['all'] += allr; c['same'] += same; c['runs'].append((verdict(allr).split()[-1], verdict(same).split()[-1]))
    c['iic'].append(iic['msgs_per_s']/1e6); c['raw'].append(raw['msgs_per_s']/1e6); c['probe'].append(iic.get('probe_ns_before'))
    print(f"{os.path.basename(f):18s} probe {iic.get('probe_ns_before')}/{iic.get('probe_ns_after')} iic {iic['msgs_per_s']/1e6:5.1f} M raw {raw['msgs_per_s']/1e6:5.1f} M | all: {verdict(allr)} | same: {verdict(same)} | regimes {regs}")
print()
print('# per config, pooled over runs')
for cfg, c in configs.items():
    runs = c['runs']
    print(f"idle {cfg:8s}: runs {len(runs)}; all-rounds verdicts {dict((k, sum(1 for a,_ in runs if a==k)) for k in set(a for a,_ in runs))}; same-regime verdicts {dict((k, sum(1 for _,b in runs if b==k)) for k in set(b for _,b in runs))}; rounds matched {len(c['same'])}/{len(c['all'])}; pooled all {verdict(c['all'])}; pooled same {verdict(c['same'])}; iic median {statistics.median(c['iic']):.1f} M, raw {statistics.median(c['raw']):.1f} M")

print()
print('# sizes: iic / raw-shm bytes delivered per run (elapsed s; probes)')
sz = {}
for f in sorted(glob.glob(os.path.join(d, 'sz-*-r*.json'))):
    cfg = re.search(r'sz-([^-]+)-r(\d+)', f).group(1)
    rows = json.load(open(f))['results']
    for size in sorted({r['size'] for r in rows}):
        i = next((r for r in rows if r['transport'] == 'iic' and r['size'] == size and r.get('status') == 'ok'), None)
        w = next((r for r in rows if r['transport'] == 'raw-shm' and r['size'] == size and r.get('status') == 'ok'), None)
        if not i or not w: continue
        ratio = 100 * i['bytes_per_s'] / w['bytes_per_s']
        moved = i.get('probe_moved') or w.get('probe_moved')
        sz.setdefault((cfg, size), []).append((ratio, moved))
        print(f"{os.path.basename(f):16s} {size>>20:3d} MiB iic {i['bytes_per_s']/1e9:5.2f} GB/s ({i['elapsed_s']:.3f} s, {i['count']}) raw-shm {w['bytes_per_s']/1e9:5.2f} GB/s ({w['elapsed_s']:.3f} s, {w['count']}) = {ratio:5.1f} %  probes {i.get('probe_ns_before')}/{i.get('probe_ns_after')} {w.get('probe_ns_before')}/{w.get('probe_ns_after')}{' MOVED' if moved else ''}")
for (cfg, size), xs in sorted(sz.items()):
    same = [r for r, m in xs if not m]
    print(f"stop {cfg:4s} {size>>20:3d} MiB: median {statistics.median([r for r,_ in xs]):5.1f} % of {len(xs)} (unmoved: {statistics.median(same) if same else float('nan'):5.1f} % of {len(same)}); min {min(r for r,_ in xs):5.1f} max {max(r for r,_ in xs):5.1f}")

print()
print('# clocks of one measurement (IIC_PERF_PHASES=1): iic / raw-shm with the clock stopped where the sink took the Stop, and at its acknowledgement')
pat = re.compile(r"^clock sizes (\S+) spin poll (\d+) MiB: (\d+) messages; to the sink's taking the Stop ([0-9.]+) s \(([0-9.]+) GB/s\), to its acknowledgement ([0-9.]+) s \(([0-9.]+) GB/s\)")
pairs = {}
for f in sorted(glob.glob(os.path.join(d, '*.err.txt'))):
    rows = {}
    for line in open(f):
        m = pat.match(line)
        if m: rows[(m.group(1), int(m.group(2)))] = (float(m.group(5)), float(m.group(7)), float(m.group(4)), float(m.group(6)))
    for size in sorted({s for _, s in rows}):
        if ('iic', size) in rows and ('raw-shm', size) in rows:
            i, w = rows[('iic', size)], rows[('raw-shm', size)]
            new, old = 100 * i[0] / w[0], 100 * i[1] / w[1]
            pairs.setdefault(size, []).append((new, old))
            print(f"{os.path.basename(f):28s} {size:3d} MiB: stop {new:5.1f} % (iic {i[0]:.2f}, raw {w[0]:.2f} GB/s) | ack {old:5.1f} % (iic {i[1]:.2f}, raw {w[1]:.2f}); tails after the Stop: iic {1000*(i[3]-i[2]):.0f} ms, raw-shm {1000*(w[3]-w[2]):.0f} ms")
for size, xs in sorted(pairs.items()):
    print(f"{size} MiB: median stop {statistics.median([a for a,_ in xs]):.1f} % [{min(a for a,_ in xs):.1f}-{max(a for a,_ in xs):.1f}], ack {statistics.median([b for _,b in xs]):.1f} % [{min(b for _,b in xs):.1f}-{max(b for _,b in xs):.1f}] over {len(xs)} runs")
