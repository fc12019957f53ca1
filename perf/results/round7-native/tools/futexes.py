import sys, re, collections
trace, samples = sys.argv[1], sys.argv[2]
lines = open(samples).read().splitlines()
t0 = int(lines[0].split()[2])
calls = [tuple(map(float, l.split())) for l in lines[1:]]
start = t0 + calls[0][0]; end = t0 + calls[-1][0] + calls[-1][1]
rx = re.compile(r"^\s*(.+?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$")
cnt = collections.Counter(); stamps = collections.defaultdict(list)
for l in open(trace):
    m = rx.match(l)
    if not m: continue
    ts = int(float(m.group(4))*1e9)
    if not (start <= ts <= end): continue
    comm, ev, rest = m.group(1), m.group(5), m.group(6)
    if not comm.startswith('iic-grpc'): continue
    if ev == 'syscalls:sys_enter_futex':
        op = int(re.search(r'op: (0x[0-9a-f]+)', rest).group(1), 16) & 0x7f
        k = (comm, {0: 'WAIT', 1: 'WAKE', 9: 'WAIT_BITSET', 10: 'WAKE_BITSET'}.get(op, str(op)))
    elif ev == 'sched:sched_switch' and f'prev_comm={comm}' in rest:
        st = re.search(r'prev_state=(\S+)', rest).group(1)
        k = (comm, 'switch-out ' + st)
    else:
        k = (comm, ev.split(':')[-1])
    cnt[k] += 1; stamps[k].append((ts - start) / 1e6)
print(f"window {(end-start)/1e6:.1f} ms, {len(calls)} calls")
for k, v in sorted(cnt.items()):
    s = stamps[k]
    print(f"  {v:6d} {k}  first {s[0]:.2f} ms last {s[-1]:.2f} ms")
