import sys, re, statistics, bisect
rx = re.compile(r'^\s*(.+?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$')
ev = []
for l in open(sys.argv[1]):
    m = rx.match(l)
    if m: ev.append((float(m.group(5)), m.group(1), int(m.group(3)), int(m.group(4)), m.group(6), m.group(7)))
ev.sort()
def run(srv):
    wakes = [e for e in ev if e[4] == 'sched:sched_wakeup' and f'comm={srv} ' in e[5] and e[1] != srv and not e[1].startswith('.NET') and e[1] not in ('swapper',)]
    out = []
    for w in wakes:
        t1, cli_tid = w[0], w[2]
        tcpu = int(re.search(r'target_cpu=(\d+)', w[5]).group(1))
        srv_tid = int(re.search(r' pid=(\d+)', w[5]).group(1))
        sleep = max((e[0] for e in ev if e[0] < t1 and e[2] == cli_tid and e[4].endswith('futex') and (' op: 0x00000189' in e[5] or ' op: 0x00000089' in e[5])), default=None)
        t0 = min((e[0] for e in ev if sleep and sleep < e[0] < t1 and e[2] == cli_tid and e[4] != 'sched:sched_switch'), default=None)
        t2 = min((e[0] for e in ev if e[0] > t1 and e[2] == srv_tid), default=None)
        t3 = min((e[0] for e in ev if t2 and e[0] > t2 and e[2] == srv_tid and e[4].endswith('futex') and ' op: 0x00000000' in e[5]), default=None)
        t4 = min((e[0] for e in ev if t3 and e[0] > t3 and e[2] == cli_tid and e[4].endswith('futex') and (' op: 0x00000189' in e[5] or ' op: 0x00000089' in e[5])), default=None)
        if None not in (t0, t2, t3, t4) and t4 - t0 < 0.004:
            out.append(dict(T0=t0, T1=t1, T2=t2, T3=t3, T4=t4, same=(tcpu == w[3])))
    return out
def show(name, o):
    med = lambda a, b: statistics.median((x[b] - x[a]) * 1e6 for x in o)
    print(f"{name:14s} n={len(o)} client pre-wake {med('T0','T1'):6.1f} | server wake->running {med('T1','T2'):6.1f} | server running->parks {med('T2','T3'):6.1f} | then client->asleep again {med('T3','T4'):6.1f} | total {med('T0','T4'):6.1f} us; server woken on the client's CPU {sum(x['same'] for x in o)}/{len(o)}")
raw = run('raw-futex serve'); n = len(raw) // 2
show('raw', raw[:n]); show('raw+protobuf', raw[n:]); show('native', run('iic-grpc-server')[-100:])
