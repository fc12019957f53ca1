import sys, re, collections
rx = re.compile(r'^\s*(.+?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$')
ev = []
for l in open(sys.argv[1]):
    m = rx.match(l)
    if m: ev.append((float(m.group(5)), m.group(1), int(m.group(2)), int(m.group(3)), m.group(6), m.group(7)))
ev.sort()
# phases: raw = while 'raw-futex serve' issues WAKEs (first 200 pongs: 100 raw + 100 with messages); native = iic-grpc-server active after the cold probe
raw_wakes = [e[0] for e in ev if e[1] == 'raw-futex serve' and e[4].endswith('futex') and ' op: 0x00000001' in e[5]]
nat = [e[0] for e in ev if e[1] == 'iic-grpc-server']
n = int(sys.argv[2])
phases = {'raw-futex': (raw_wakes[0] - 0.006, raw_wakes[n - 1] + 0.0001), 'raw-futex+protobuf': (raw_wakes[n - 1] + 0.0001, raw_wakes[2 * n - 1] + 0.0001)}
# native: the last n calls' window: from 6 ms before the server's n-th last wake-up to the end
srv_wakes = [e[0] for e in ev if e[4] == 'sched:sched_wakeup' and 'comm=iic-grpc-server' in e[5]]
phases['native-iic'] = (srv_wakes[-n] - 0.004, srv_wakes[-1] + 0.001)
pids = {}
for e in ev:
    if e[1] == 'raw-futex serve' or e[1] == 'iic-grpc-server': pids['server'] = e[2]
    if e[1] == 'iic-grpc-client': pids['client'] = e[2]
for name, (a, b) in phases.items():
    c = collections.Counter()
    for t, comm, pid, tid, evn, rest in ev:
        if not (a <= t <= b): continue
        side = 'server' if pid == pids.get('server') else 'client' if pid == pids.get('client') else None
        if side is None: continue
        if evn.endswith('futex'):
            op = int(re.search(r'op: (0x[0-9a-f]+)', rest).group(1), 16) & 0x7f
            k = {0: 'FUTEX_WAIT', 1: 'FUTEX_WAKE', 9: 'FUTEX_WAIT_BITSET', 10: 'FUTEX_WAKE_BITSET', 0x81 & 0x7f: 'FUTEX_WAKE'}.get(op, 'futex op %d' % op)
        elif evn == 'sched:sched_switch':
            if f'prev_pid={tid} ' not in rest: continue
            k = 'switch-out ' + re.search(r'prev_state=(\S+)', rest).group(1)
        elif evn == 'sched:sched_wakeup':
            k = 'wakes ' + re.search(r'comm=(.*?) pid', rest).group(1)
        else:
            k = evn.split(':')[-1]
        c[(side, comm, k)] += 1
    print(f"== {name}: {len([1 for x in srv_wakes if a<=x<=b]) if name=='native-iic' else n} calls, per call:")
    for k, v in sorted(c.items()): print(f"   {v / n:6.2f}  {k}")
