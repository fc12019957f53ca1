# Summarises `perf script -F comm,tid,time,ip,sym,dso` of a `perf record -g -a -e cpu-clock` run of
# GrpcPerf --paths native-iic --tests unary,unary-idle (DOTNET_PerfMapEnabled=1, DOTNET_EnableWriteXorExecute=0,
# DOTNET_ReadyToRun=0 so that every managed frame has a name): inclusive samples per managed method for the client and
# server reader threads during the unary-idle calls only (from the first to the last sample with UnaryIdleAsync on the
# client's stack in which the server also ran a call). Usage: python3 profile-summary.py g.txt
import re, sys, collections
samples = []; cur = None
for line in open(sys.argv[1], errors='replace'):
    if not line.strip():
        if cur: samples.append(cur)
        cur = None; continue
    if not line.startswith('\t') and not line.startswith(' ' * 8):
        p = line.split(); cur = {'comm': p[0], 't': float(p[2].rstrip(':')), 'frames': []}; continue
    if cur is not None:
        m = re.match(r'([0-9a-f]+) (.*) \((.*)\)$', line.strip())
        if m: cur['frames'].append((m.group(2), m.group(3)))
def short(n):
    n = re.sub(r'\[[^\]]*\]', '', n); n = re.sub(r'class |valuetype |instance ', '', n)
    m = re.search(r'([\w`<>.+]+::[\w<>.`|]+)\(', n); return m.group(1) if m else n[:80]
idle = [s['t'] for s in samples if s['comm'] == 'iic-grpc-client' and any('UnaryIdleAsync' in f[0] for f in s['frames'])]
calls = [s['t'] for s in samples if s['comm'] == 'iic-grpc-server' and any('TryStartInPlace' in f[0] for f in s['frames'])]
t0 = min(idle); t1 = max(t for t in calls if t >= t0)
print(f'window {t0:.3f}..{t1:.3f} ({t1 - t0:.2f} s)')
skip = ('ScottPlot', 'Report::', 'FileSystem', 'SkiaSharp', 'Dispose')
for comm in ('iic-grpc-server', 'iic-grpc-client'):
    incl = collections.Counter(); total = 0
    for s in samples:
        if s['comm'] != comm or not (t0 <= s['t'] <= t1): continue
        names = [short(f[0]) for f in s['frames']]
        if any(k in n for n in names for k in skip): continue
        total += 1
        for n in set(n for f, n in zip(s['frames'], names) if 'perf-' in f[1]): incl[n] += 1
    print(f'== {comm}: {total} samples')
    for k, v in incl.most_common(45): print(v, k)
