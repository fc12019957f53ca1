# strip.py SRC DST: copies a run's JSON files without their latency curves
import json,sys,glob,os
src,dst=sys.argv[1],sys.argv[2]; os.makedirs(dst,exist_ok=True)
for f in glob.glob(src+'/*.json'):
    d=json.load(open(f))
    for r in d.get('results',[]): r.pop('curve',None)
    json.dump(d,open(os.path.join(dst,os.path.basename(f)),"w"))
for f in glob.glob(src+'/log.txt'):
    open(os.path.join(dst,'log.txt'),'w').write(open(f).read())
