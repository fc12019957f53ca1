import json,glob,collections,statistics as st,sys
# one-way: iic's per-round ratio to raw-shm (same round), grouped by variant, api and probe placement (near < 200 ns)
d=collections.defaultdict(list)
for f in glob.glob(sys.argv[1]+'/*.json'):
  v=f.split('/')[-1].split('-')[0]; rows=json.load(open(f))['results']
  for r in rows:
    if r['transport']=='iic' and r.get('round_ratios'):
      pr=r['round_probe_ns']
      for k,x in enumerate(r['round_ratios']):
        if x is None or pr[k] is None or pr[k+1] is None or abs(pr[k]-pr[k+1])>20: continue
        d[(v,r['api'],'near' if pr[k]<200 else 'far')].append(x)
for k in sorted(d): print(k,'n=%d'%len(d[k]),'median ratio %.3f mean %.3f'%(st.median(d[k]),st.mean(d[k])))
