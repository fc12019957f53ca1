import json,glob,collections,statistics as st,sys,random
# per kept round: iic quantile minus raw-shm's in the same round, by variant, api and probe placement; also iic over probe
for q in ('round_p50_ns','round_p99_ns'):
 d=collections.defaultdict(list)
 for dd in sys.argv[1:]:
  for f in glob.glob(dd+'/*.json'):
   v=f.split('/')[-1].split('-')[0]; j=json.load(open(f)); rows=j['results']
   for api in ('receive','send-and-receive','poll-claim'):
    try:
     iic=[r for r in rows if r['transport']=='iic' and r.get('api')==api][0]; raw=[r for r in rows if r['transport']=='raw-shm' and r.get('api')==api][0]
    except IndexError: continue
    pr=iic.get('round_probe_ns')
    if not pr or not iic.get(q): continue
    for k,(a,b) in enumerate(zip(iic[q],raw[q])):
     if None in (pr[k],pr[k+1],a,b) or abs(pr[k]-pr[k+1])>20 or a>3000 or b>3000: continue
     kind='sib' if pr[k]<120 else 'near' if pr[k]<200 else 'far'
     d[(api,kind,v)].append((a-b, a/b, pr[k], a, b))
 print(q)
 for k in sorted(d):
  L=d[k]; diffs=[x[0] for x in L]
  m=st.mean(diffs)
  bs=sorted(st.mean(random.choices(diffs,k=len(diffs))) for _ in range(2000))
  print(' %-28s'%(k,),'n=%3d'%len(L),'diff %6.1f ns [%6.1f,%6.1f]'%(m,bs[50],bs[1949]),'ratio %.3f'%st.median(x[1] for x in L),'iic %.1f raw %.1f probe %.1f iic/probe %.3f'%(st.mean(x[3] for x in L),st.mean(x[4] for x in L),st.mean(x[2] for x in L),st.median(x[3]/x[2] for x in L)))
