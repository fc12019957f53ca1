#!/usr/bin/env python3
# Who preempts whom during one path's measured unary calls (GrpcPerf, both processes), from a scheduler trace:
#   perf record -k mono -e sched:sched_switch -e sched:sched_wakeup -e sched:sched_process_fork -a -o sched.data -- \
#     sh -c 'echo $$ > client.pid; exec dotnet perf/IIC.GrpcPerf/bin/Release/net10.0/IIC.GrpcPerf.dll \
#       --paths http2-iic --tests unary --calls 4000 --warmup 1000 --samples samples'
#   python3 perf/IIC.GrpcPerf/preemptions.py sched.data client.pid samples http2-iic
# One path per run (--samples gives the measured window: the first call's start to the last call's end). Prints per
# call: the switches away from a still-runnable thread (prev_state R: a preemption, or a sched_yield that found another
# thread to run, both counted by the kernel as involuntary) by (previous thread -> next thread), and the wake-ups by
# (waker -> wakee); threads are named "client:", "server:" (the client's child) or "other:" with their comm.
import sys, re, collections, subprocess
data, pidfile, sampdir, path = sys.argv[1:5]
client = int(open(pidfile).read())
lines = open(f"{sampdir}/{path}-unary.txt").read().split('\n')
t0 = int(lines[0].split()[2]) / 1e9
last = [l.split() for l in lines[1:] if l.strip()][-1]
t1 = t0 + (int(last[0]) + int(last[1])) / 1e9
calls = len([l for l in lines[1:] if l.strip()])
out = subprocess.run(["perf","script","-i",data,"-F","comm,pid,tid,cpu,time,event,trace"],capture_output=True,text=True).stdout.split('\n')
tidpid = {}
forks = []
ev = []
rx = re.compile(r'^\s*(.*?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s+(.*)$')
for l in out:
    m = rx.match(l)
    if not m: continue
    comm,pid,tid,cpu,t,e,tr = m.groups()
    pid,tid,t=int(pid),int(tid),float(t)
    tidpid[tid]=pid
    if e.endswith('sched_process_fork'):
        f = dict(re.findall(r'(\w+)=(\S+)', tr)); forks.append((pid, int(f['child_pid'])))
    ev.append((t,comm,pid,tid,int(cpu),e,tr))
server = None
for ppid, child in forks:
    if ppid == client and tidpid.get(child) == child and child != client:
        server = child
procs = {client:'client', server:'server'}
def who(tid, comm):
    p = tidpid.get(tid)
    return (procs.get(p,'other'), comm)
invol = collections.Counter(); wake = collections.Counter(); switches=collections.Counter()
cpuwin = collections.Counter()
for t,comm,pid,tid,cpu,e,tr in ev:
    if t < t0 or t > t1: continue
    if e.endswith('sched_switch'):
        f = dict(re.findall(r'(\w+)=(.*?)(?= \w+=|$)', tr.replace(' ==> ',' ')))
        pt, nt = int(f['prev_pid']), int(f['next_pid'])
        pw = who(pt, f['prev_comm']); nw = who(nt, f['next_comm'])
        st = f['prev_state'].strip()
        if st.startswith('R'):
            invol[(pw, nw)] += 1
        switches[(pw[0], st[:1])] += 1
    elif e.endswith('sched_wakeup'):
        f = dict(re.findall(r'(\w+)=(\S+)', tr))
        wt = int(f['pid'])
        wake[(who(tid, comm), who(wt, f['comm']))] += 1
print(f"client {client} server {server} window {t1-t0:.3f}s calls {calls}")
print("preemptions/yields (prev in R state) per call: prev -> next")
for (a,b),n in invol.most_common(25): print(f"  {n/calls:6.2f}  {a[0]}:{a[1]:<22} -> {b[0]}:{b[1]}")
print("wakeups per call: waker -> wakee")
for (a,b),n in wake.most_common(20): print(f"  {n/calls:6.2f}  {a[0]}:{a[1]:<22} -> {b[0]}:{b[1]}")
