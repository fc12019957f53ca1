import re,sys,os
R='/work/wt/job3/perf/results/round13/job3/'
def phases(f):
    t=0
    for line in open(f):
        m=re.match(r'phases (\S+) (\S+) .*?:((?: \S+ \d+ ms)+)',line)
        if m: t+=sum(int(x) for x in re.findall(r' \S+ (\d+) ms',m.group(3)))/1000
    return t
print('| run | build | start (UTC) | load before / after (1, 5, 15 min) | total | rows\' phases (no probes) | failed rows |')
print('| --- | --- | --- | --- | ---: | ---: | ---: |')
for summary in ['default-ab.txt','final-ab.txt','head-ab.txt','quiet-ab.txt']:
    if not os.path.exists(R+summary): continue
    for line in open(R+summary):
        m=re.match(r'round (\d+) (\S+): start (\S+) wall \d+ s, Total time: ([\d.]+) s, rc (\d+).*load before ([\d. ]+) after ([\d. ]+)',line)
        if not m: continue
        rnd,b,start,total,rc,l0,l1=m.groups()
        base=summary.replace('.txt','')+'-'+b+'-'+rnd
        err=R+base+'.err.txt'
        failed=sum(1 for l in open(err) if 'FAILED' in l)
        name={'default-ab':'B','final-ab':'C','head-ab':'D','quiet-ab':'D'}[summary[:-4]] if b=='job3' else 'main'
        print(f'| {base} | {name} | {start} | {l0.strip()} / {l1.strip()} | {total} s | {phases(err):.1f} s | {failed} |')
