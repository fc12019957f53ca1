import re,sys
def summ(path):
    txt=open(path).read()
    parts=re.split(r'^; Assembly listing for method ',txt,flags=re.M)[1:]
    for p in parts:
        name=p.split('\n',1)[0].replace(' (FullOpts)','')
        if not re.search(r'IicChannel:(TryClaim|Poll\[)|OnMessage|SendInPlace',name): continue
        m=re.search(r'Total bytes of code (\d+)',p); size=m.group(1) if m else '?'
        lines=[l.strip() for l in p.split('\n')]
        # prologue = until first "G_M000_IG02"
        pro=[];started=False
        for l in lines:
            if l.startswith('G_M000_IG01'): started=True; continue
            if l.startswith('G_M000_IG02'): break
            if started and l: pro.append(l)
        pushes=sum(1 for l in pro if l.startswith('push'))
        sub=[l for l in pro if l.startswith('sub      rsp')]
        zero=sum(1 for l in pro if re.match(r'(mov|vmov\w+)\s+(qword|dword|xmmword|ymmword|zmmword) ptr \[rbp',l) and ('rax' in l or 'mm8' in l or 'eax' in l))
        calls=[re.sub(r'^call\s+','',l) for l in lines if l.startswith('call')]
        tls=sum(1 for c in calls if 'THREADSTATIC' in c or c=='rax')
        cinit=sum(1 for c in calls if 'NONGCSTATIC' in c)
        print(f"{name[:150]}\n    {size} bytes; prologue: {pushes} pushes, {sub[0] if sub else 'no sub rsp'}, {zero} zeroing stores; {len(calls)} calls in the method ({tls} TLS lookups, {cinit} class-init helpers)")
for f in sys.argv[1:]:
    print('=====',f); summ(f)
