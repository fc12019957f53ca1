import sys, re, collections
trace, samples = sys.argv[1], sys.argv[2]
lines = open(samples).read().splitlines()
t0 = int(lines[0].split()[2])
calls = [tuple(map(float, l.split())) for l in lines[1:]]
start = t0 + calls[0][0]; end = t0 + calls[-1][0] + calls[-1][1]
rx = re.compile(r'^\s*(.+?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$')
cur = {}; occ = collections.Counter()
for l in open(trace):
    m = rx.match(l)
    if not m or m.group(5) != 'sched:sched_switch': continue
    ts = int(float(m.group(4))*1e9); cpu = int(m.group(3))
    nm = re.search(r'next_comm=(.*?) next_pid=(\d+)', m.group(6))
    if cpu in cur:
        a, who = cur[cpu]
        lo, hi = max(a, start), min(ts, end)
        if hi > lo: occ[(cpu, who)] += hi - lo
    cur[cpu] = (ts, nm.group(1) + '/' + nm.group(2))
for cpu in (0, 1):
    print('cpu', cpu)
    for (c, who), v in sorted(occ.items(), key=lambda x: -x[1]):
        if c == cpu and v > 50000: print(f'   {v/1e6:8.2f} ms {who}')
