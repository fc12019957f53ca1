import re,collections,sys
# Sum each row's phases (open..finish: everything but its two placement probes) per test, from IIC_PERF_PHASES=1 output.
for f in sys.argv[1:]:
    tot=collections.defaultdict(float); n=collections.Counter()
    for line in open(f):
        m=re.match(r'phases (\S+) (\S+) .*?:((?: \S+ \d+ ms)+)',line)
        if m:
            test=m.group(1); tr=m.group(2)
            ms=sum(int(x) for x in re.findall(r' \S+ (\d+) ms',m.group(3)))
            key=test+(' ns' if tr in('tcp-veth','iic-ns','tcp-veth-ns') else '')
            tot[key]+=ms/1000; n[key]+=1
    print(f.split('/')[-1], ' '.join(f"{k}:{v:.1f}/{n[k]}" for k,v in sorted(tot.items())), 'sum', round(sum(tot.values()),1))
