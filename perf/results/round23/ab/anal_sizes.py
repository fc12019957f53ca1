import json,glob,sys,statistics as st,collections
d=collections.defaultdict(list)
for f in sorted(glob.glob(sys.argv[1]+'/*.json')):
    v=f.split('/')[-1].rsplit('-',1)[0]
    rs=json.load(open(f))['results']
    for r in rs:
        if r['transport']!='iic' or r['test']!='sizes' or 'round_ratios' not in r: continue
        pr=r['round_probe_ns']
        for k,x in enumerate(r['round_ratios']):
            if pr[k] and pr[k+1] and abs(pr[k]-pr[k+1])<=20:
                place='near' if pr[k]<200 else 'far'
                d[(r['size'],place,v)].append((x,r['round_msgs_per_s'][k]))
for key in sorted(d):
    xs=d[key]
    print(key, len(xs), 'ratio median %.3f'%st.median(a for a,b in xs), 'iic msgs/s median %d'%st.median(b for a,b in xs))
