import re,collections,sys
# Per-cycle syscall counts per thread from a `perf trace` of `IIC.Perf connect --transports iic`,
# over the trace's second half (steady state): cycles = the client's Connect requests (sendmsg of 39 bytes).
path=sys.argv[1]
ev=[]
for line in open(path):
    m=re.match(r'\s*([\d.]+) \(.*?\): (.+?)/(\d+) ([a-z_0-9]+)\(.*?\)\s+= (.*)$',line)
    if m: ev.append((float(m.group(1)),m.group(2)+'/'+m.group(3),m.group(4),m.group(5).strip()))
    else:
        m=re.match(r'\s*([\d.]+) \(\s*\): (.+?)/(\d+) ([a-z_0-9]+)\(',line)
        if m: ev.append((float(m.group(1)),m.group(2)+'/'+m.group(3),m.group(4),'...'))
t0=min(e[0] for e in ev); t1=max(e[0] for e in ev)
lo=t0+(t1-t0)*float(sys.argv[2] if len(sys.argv)>2 else 0.5)
conn=[e[0] for e in ev if e[2]=='sendmsg' and e[3].startswith('39') and 'hypervisor' not in e[1] and e[0]>=lo]
a,b=conn[0],conn[-1]
ev=[e for e in ev if a<=e[0]<b]
cyc=len(conn)-1
c=collections.Counter((e[1],e[2]) for e in ev)
print(f"cycles {cyc}")
names={}
for (t,s),n in sorted(c.items()):
    if n/cyc>=0.05: print(f"{t:28s} {s:14s} {n:6d} {n/cyc:6.2f}")
tot=collections.Counter()
for (t,s),n in c.items(): tot[t]+=n
print("totals per cycle:", {t: round(n/cyc,2) for t,n in tot.items() if n/cyc>=0.05})
