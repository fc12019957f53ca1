#!/bin/bash
# sched.sh DLL ENV... : sleeps per cycle of the iic connect row's threads (cycles = memfd_create calls), S and D states apart
dll=$1; shift
perf record -q -o /tmp/ab24/s.data -e sched:sched_switch -e syscalls:sys_enter_memfd_create -a -- env "$@" dotnet $dll connect --transports iic --duration 1 --json /tmp/ab24/s.json 2>&1 | grep -o "p50 [0-9]* µs" | head -1 | tr '\n' ' '
perf script -i /tmp/ab24/s.data -F tid,time,event,trace 2>/dev/null | python3 -c '
import sys,re,collections
sl=collections.Counter(); dl=collections.Counter(); run=collections.Counter(); names={}; cycles=0; last={}
for l in sys.stdin:
    if "memfd_create" in l: cycles+=1; continue
    m=re.search(r"(\d+\.\d+):\s+sched:sched_switch: prev_comm=(.*?) prev_pid=(\d+) prev_prio=\d+ prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)",l)
    if not m: continue
    t=float(m.group(1)); p=m.group(3); n=m.group(6)
    names[p]=m.group(2); names[n]=m.group(5)
    if p in last: run[p]+=t-last.pop(p)
    last[n]=t
    st=m.group(4)[0]
    if st=="S": sl[names[p]]+=1
    elif st=="D": dl[names[p]]+=1
byname=collections.Counter()
for p,r in run.items(): byname[names[p][:9]]+=r
out=["cycles %d"%cycles]
for k in ["IIC hypervisor","IIC unmap","IIC partition"]:
    out.append("%s: S %.3f D %.3f /cycle"%(k,sum(v for n,v in sl.items() if n.startswith(k))/cycles,sum(v for n,v in dl.items() if n.startswith(k))/cycles))
out.append("unmap CPU/cycle %.1f us"%(byname["IIC unmap"]/cycles*1e6))
print("; ".join(out))
'
