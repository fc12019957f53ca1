import sys, struct, statistics
def pct(xs,p):
    xs=sorted(xs); return xs[min(len(xs)-1,int(p/100*len(xs)))]
for f in sys.argv[1:]:
    data=open(f,'rb').read(); n=len(data)//20
    seq=[0]*n; t=[0]*n; bf=[0]*n
    for i,(s,b,k) in enumerate(struct.iter_unpack('<qqi',data)): seq[i]=s; t[i]=k; bf[i]=b
    starts=[0]+[i for i in range(1,n) if bf[i]-bf[i-1]>2_000_000]; ends=starts[1:]+[n]
    keep=[]; nb=0
    for s,e in zip(starts,ends):
        blk=t[s:e]; med=statistics.median(blk)
        if med<260: keep.append((s,e)); nb+=1
    print(f, n,'samples', len(starts),'blocks', nb,'near')
    tk=[];sk=[]
    for s,e in keep: tk+=t[s:e]; sk+=seq[s:e]
    if not tk: continue
    p50=pct(tk,50);p99=pct(tk,99)
    print(f' near n={len(tk)} p50={p50} p90={pct(tk,90)} p99={p99} p99.9={pct(tk,99.9)}')
    slow=[x>p99 for x in tk]; mean=sum(slow)/len(slow)
    for m in (2,4,8,16,32,64,128,256,512,16384):
        cnt=[0]*m; tot=[0]*m
        for sq,sl in zip(sk,slow): tot[sq%m]+=1; cnt[sq%m]+=sl
        rates=[c/x if x else 0 for c,x in zip(cnt,tot)]
        top=sorted(range(m),key=lambda k:-rates[k])[:4]
        print(f'   mod {m}: max {max(rates)*100:.2f}% at {top} {[round(rates[k]*100,2) for k in top]} mean {mean*100:.2f}%')
    idx=[i for i,x in enumerate(slow) if x]
    ps=sum(1 for i in idx if i+1<len(slow) and slow[i+1])/max(1,len(idx))
    print(f'   P(slow|prev slow)={ps*100:.1f}%')
    from collections import Counter
    g=Counter(b-a for a,b in zip(idx,idx[1:]))
    print('   commonest gaps', g.most_common(10))
    h=Counter((x//5)*5 for x in tk)
    print('   hist', ' '.join(f'{k}:{h[k]}' for k in sorted(h) if h[k]>len(tk)*0.001 and k<p99+100))
