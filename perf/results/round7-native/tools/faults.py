import sys, re, collections, bisect
trace, samples = sys.argv[1], sys.argv[2]
lines = open(samples).read().splitlines()
t0 = int(lines[0].split()[2])
calls = [(t0 + s, lat) for s, lat in (tuple(map(float, l.split())) for l in lines[1:])]
rx = re.compile(r'^\s*(.+?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$')
faults = []; other = []
for l in open(trace):
    m = rx.match(l)
    if not m: continue
    if m.group(5) == 'page-faults' and m.group(1).startswith('iic-grpc'):
        faults.append((int(float(m.group(4))*1e9), m.group(1), int(m.group(6).strip().split()[0], 16)))
faults.sort(); ft = [f[0] for f in faults]
withf, without = [], []
pages = collections.Counter()
for s, lat in calls:
    a = bisect.bisect_left(ft, int(s)); b = bisect.bisect_right(ft, int(s + lat))
    (withf if b > a else without).append(lat)
def q(v, p): v = sorted(v); return v[min(len(v)-1, int(p*len(v)))]/1000 if v else float('nan')
print(f"calls with a reader page fault: {len(withf)}  p50 {q(withf,.5):.1f} p90 {q(withf,.9):.1f} p99 {q(withf,.99):.1f} us")
print(f"calls without:                  {len(without)}  p50 {q(without,.5):.1f} p90 {q(without,.9):.1f} p99 {q(without,.99):.1f} us")
slow = [lat for lat in withf if lat > 15000]; slow2 = [lat for lat in without if lat > 15000]
print(f"calls over 15 us: {len(slow)} with a fault, {len(slow2)} without")
# address regions of faults in the window
start, end = calls[0][0], calls[-1][0] + calls[-1][1]
regions = collections.Counter((f[1], hex(f[2] >> 28 << 28)) for f in faults if start <= f[0] <= end)
for k, v in regions.most_common(8): print("  ", v, k)
