import re,collections,sys
for f in sys.argv[1:]:
    tot=collections.defaultdict(float); n=collections.Counter(); seen=set()
    for line in open(f):
        m=re.match(r'\[\s*(\d+)/\d+\] (\S+) (\S+).*\((\d+\.\d) s\)',line)
        if m:
            idx=m.group(1); test=m.group(2); tr=m.group(3)
            if (idx,test) in seen and test in ('channels','throughput'): continue  # multi-row items report the item's time on each row
            seen.add((idx,test))
            key=test+(' ns' if tr in('tcp-veth','iic-ns','tcp-veth-ns') else '')
            tot[key]+=float(m.group(4)); n[key]+=1
    print(f.split('/')[-1], ' '.join(f"{k}:{v:.1f}/{n[k]}" for k,v in sorted(tot.items())), 'sum', round(sum(tot.values()),1))
