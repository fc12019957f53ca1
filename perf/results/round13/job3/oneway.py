import json,glob,os,statistics,random
print('| run | api | iic / raw-shm per kept round (%) | median | rounds kept | probes (ns) |')
print('| --- | --- | --- | ---: | ---: | --- |')
for f in sorted(glob.glob('/tmp/j3-ab/*job3*.json'))+['/tmp/j3-quick-copy.json']:
    if not os.path.exists(f): continue
    d=json.load(open(f))
    for r in d['results']:
        if r.get('round_ratios') is not None and r.get('status')=='ok':
            kept=[x for x in r['round_ratios'] if x is not None]
            print(f"| {os.path.basename(f)[:-5]} | {r['api']} | {', '.join(str(round(x*100)) for x in kept)} | {r['round_ratio_median']*100:.0f} % | {len(kept)}/{r['rounds']} | {r.get('probe_ns_before')}/{r.get('probe_ns_after')} |")
