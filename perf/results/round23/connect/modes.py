# modes.py DIR... : per variant, the iic/TCP ratio of rows grouped by the same row's TCP p50 (the box's state during the row:
# under 95 µs = quiet (near ~78, far ~85), 95 µs and over = loaded), pooled over the given A/B directories
import json,glob,sys,statistics,re,collections
rows=collections.defaultdict(lambda: collections.defaultdict(list))
for d in sys.argv[1:]:
    for f in sorted(glob.glob(d+'/*.json')):
        name=re.sub(r'-\d+\.json$','',f.split('/')[-1])
        r={x['transport']:x for x in json.load(open(f))['results']}
        if 'iic' not in r or 'tcp' not in r: continue
        i,t=r['iic']['p50_ns']/1000,r['tcp']['p50_ns']/1000
        mode='quiet (TCP p50 < 95 us)' if t<95 else 'loaded (TCP p50 >= 95 us)'
        rows[mode][name].append((i/t,i,t))
for mode in sorted(rows):
    print('--',mode)
    for n,v in sorted(rows[mode].items()):
        rs=[x[0] for x in v]
        print(f"  {n:8s} rows {len(v):3d}  iic/TCP median {statistics.median(rs):.2f} [{min(rs):.2f}-{max(rs):.2f}]  within 1.5x {sum(r<1.5 for r in rs)}/{len(rs)}  iic p50 median {statistics.median(x[1] for x in v):.0f} us  TCP {statistics.median(x[2] for x in v):.0f} us")
