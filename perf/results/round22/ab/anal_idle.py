import json,glob,collections,statistics as st,sys,random
# idlegap rows: iic's p50/p90/p99 by variant and placement (both probes near < 200 ns, both far > 300 ns, else moved)
d=collections.defaultdict(list)
for f in glob.glob(sys.argv[1]+'/*.json'):
  v=f.split('/')[-1].split('-')[0]
  for r in json.load(open(f))['results']:
    if r['transport']=='iic':
      a,b=r['probe_ns_before'],r['probe_ns_after']
      kind='near' if a and b and max(a,b)<200 else 'far' if a and b and min(a,b)>300 else 'moved'
      d[(v,kind)].append((r['p50_ns'],r['p90_ns'],r['p99_ns']))
for k in sorted(d):
  L=d[k]; p50=[x[0] for x in L]
  bs=sorted(st.mean(random.choices(p50,k=len(p50))) for _ in range(2000))
  print(k,'n=%2d'%len(L),'p50 mean %.0f [%.0f-%.0f] median %.0f'%(st.mean(p50),bs[50],bs[1949],st.median(p50)),'p90 median %.0f'%st.median(x[1] for x in L),'p99 median %.0f'%st.median(x[2] for x in L))
