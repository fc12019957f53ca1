import sys, re, bisect
trace, samples = sys.argv[1], sys.argv[2]
lines = open(samples).read().splitlines()
t0 = int(lines[0].split()[2])
calls = [(t0 + s, lat) for s, lat in (tuple(map(float, l.split())) for l in lines[1:])]
rx = re.compile(r'^\s*(.+?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$')
ft = sorted(int(float(m.group(4))*1e9) for m in map(rx.match, open(trace)) if m and m.group(5) == 'page-faults' and m.group(1).startswith('iic-grpc'))
n = len(calls); B = 10
def q(v, p): v = sorted(v); return v[min(len(v)-1, int(p*len(v)))]/1000 if v else float('nan')
for b in range(B):
    part = calls[b*n//B:(b+1)*n//B]
    w = [lat for s, lat in part if bisect.bisect_right(ft, int(s+lat)) > bisect.bisect_left(ft, int(s))]
    wo = [lat for s, lat in part if not (bisect.bisect_right(ft, int(s+lat)) > bisect.bisect_left(ft, int(s)))]
    print(f"tenth {b}: with fault {len(w):4d} p50 {q(w,.5):6.1f} p90 {q(w,.9):6.1f} | without {len(wo):4d} p50 {q(wo,.5):6.1f} p90 {q(wo,.9):6.1f} p99 {q(wo,.99):6.1f}")
