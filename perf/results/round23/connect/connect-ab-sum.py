import json,glob,sys,statistics,re,collections
d=sys.argv[1]; rows=collections.defaultdict(list)
for f in sorted(glob.glob(d+'/*.json')):
    name=re.sub(r'-\d+\.json$','',f.split('/')[-1])
    j=json.load(open(f)); r={x['transport']:x for x in j['results']}
    if 'iic' not in r or 'tcp' not in r: continue
    i,t=r['iic'],r['tcp']
    rows[name].append((i['p50_ns']/t['p50_ns'],i['p50_ns']/1000,t['p50_ns']/1000,i.get('probe_ns_before'),i.get('probe_ns_after'),t.get('probe_ns_before'),t.get('probe_ns_after'),f.split('/')[-1]))
for n,v in rows.items():
    rs=[x[0] for x in v]
    print(f"{n:12s} n={len(v)} ratio median {statistics.median(rs):.2f} [{min(rs):.2f}-{max(rs):.2f}] iic p50 med {statistics.median(x[1] for x in v):.0f} tcp p50 med {statistics.median(x[2] for x in v):.0f} within1.5: {sum(r<1.5 for r in rs)}/{len(rs)}")
    if '-v' in sys.argv:
        for x in v: print("   %.2f iic %.0f tcp %.0f probes %s/%s %s/%s %s"%x)
# by load: rows whose start load (1-min) < threshold
if '-l' in sys.argv:
    thr=float(sys.argv[sys.argv.index('-l')+1])
    import os
    loads={}
    for l in open(d+'/log.txt'):
        p=l.split()
        if p[1]=='round': loads[f"{p[3]}-{p[2]}"]=float(p[4])
    rows2=collections.defaultdict(list)
    for n,v in rows.items():
        for x in v:
            key=x[-1].replace('.json','')
            if loads.get(key,99)<thr: rows2[n].append(x)
    print(f"-- rows started at load < {thr}")
    for n,v in rows2.items():
        rs=[x[0] for x in v]
        print(f"{n:12s} n={len(v)} ratio median {statistics.median(rs):.2f} [{min(rs):.2f}-{max(rs):.2f}] iic p50 med {statistics.median(x[1] for x in v):.0f} tcp p50 med {statistics.median(x[2] for x in v):.0f} within1.5: {sum(r<1.5 for r in rs)}/{len(rs)}")
# by placement: near (both of the iic row's probes under 300 ns) / far (both at or over 300)
if '-p' in sys.argv:
    for kind,test in (('near',lambda a,b: a is not None and b is not None and a<300 and b<300),('far',lambda a,b: a is not None and b is not None and a>=300 and b>=300)):
        print(f"-- {kind} rows")
        for n,v in rows.items():
            w=[x for x in v if test(x[3],x[4])]
            if not w: continue
            rs=[x[0] for x in w]
            print(f"{n:12s} n={len(w)} ratio median {statistics.median(rs):.2f} [{min(rs):.2f}-{max(rs):.2f}] iic p50 med {statistics.median(x[1] for x in w):.0f} tcp p50 med {statistics.median(x[2] for x in w):.0f} within1.5: {sum(r<1.5 for r in rs)}/{len(rs)}")
