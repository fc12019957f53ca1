import sys, re, collections
trace, samples = sys.argv[1], sys.argv[2]
thr = float(sys.argv[3]) if len(sys.argv) > 3 else 15000
lines = open(samples).read().splitlines()
t0 = int(lines[0].split()[2])
calls = [tuple(map(float, l.split())) for l in lines[1:]]
ev = []
rx = re.compile(r'^\s*(.+?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$')
for l in open(trace):
    m = rx.match(l)
    if not m: continue
    comm, tid, cpu, ts, name, rest = m.groups()
    ev.append((int(float(ts)*1e9), int(cpu), comm, int(tid), name, rest))
ev.sort()
start = t0 + calls[0][0]; end = t0 + calls[-1][0] + calls[-1][1]
print("window ms", (end-start)/1e6, "calls", len(calls))
# who got switched in during the window, per comm
inwin = [e for e in ev if start <= e[0] <= end]
cnt = collections.Counter()
for e in inwin:
    if e[4] == 'sched:sched_switch':
        nm = re.search(r'next_comm=(.*?) next_pid=(\d+)', e[5])
        cnt[(nm.group(1), e[1])] += 1
print("switch-ins during window:")
for k, v in cnt.most_common(25): print(" ", v, k)
slow = [(t0 + s, lat) for s, lat in calls if lat > thr]
print("slow calls", len(slow), "of", len(calls))
import bisect
times = [e[0] for e in ev]
reasons = collections.Counter()
for i, (s, lat) in enumerate(slow):
    a = bisect.bisect_left(times, int(s)); b = bisect.bisect_right(times, int(s + lat))
    evs = ev[a:b]
    if i < int(sys.argv[4] if len(sys.argv) > 4 else 8):
        print(f"-- call at +{(s-start)/1e6:.3f} ms lat {lat/1000:.1f} us")
        for e in evs: print("   ", f"+{(e[0]-s)/1000:.1f}us", e[1], e[2], e[3], e[4], e[5][:140])
    kinds = set()
    for e in evs:
        if e[4] == 'sched:sched_switch':
            nm = re.search(r'next_comm=(.*?) next_pid', e[5]).group(1)
            kinds.add(nm)
    reasons[tuple(sorted(kinds))] += 1
print("slow-call switch-in sets:")
for k, v in reasons.most_common(20): print(" ", v, k)
