#!/bin/bash
# Per variant over connect-ab.sh outputs: ratios (iic/tcp p50 of the same interleaved row), medians, rounds within
# 1.5x, and the rows whose four probes were all near (< 300 ns, none MOVED).
"$(dirname "$0")/connect-sum.sh" "$@" | python3 -c '
import sys, re, statistics as st
rows = {}
for line in sys.stdin:
    f = line.split()
    v, iic, tcp, r = f[0], float(f[5]), float(f[7]), float(f[9])
    probes = " ".join(f[11:14])
    nums = [int(x) for x in re.findall(r"\d+", probes)]
    near = len(nums) == 4 and all(x < 300 for x in nums) and "MOVED" not in line
    rows.setdefault(v, []).append((iic, tcp, r, near))
for v, rs in sorted(rows.items()):
    ratios = [x[2] for x in rs]; near = [x for x in rs if x[3]]
    print(f"{v:10s} rows {len(rs):2d}  ratio median {st.median(ratios):.2f}  within 1.5x {sum(r <= 1.5 for r in ratios)}/{len(rs)}  iic p50 median {st.median([x[0] for x in rs]):.0f} us  tcp {st.median([x[1] for x in rs]):.0f} us"
          + (f"  | near-probe rows {len(near)}: ratio median {st.median([x[2] for x in near]):.2f}, within 1.5x {sum(x[2] <= 1.5 for x in near)}/{len(near)}, iic p50 median {st.median([x[0] for x in near]):.0f}" if near else "  | no near-probe rows"))
    print("    ratios:", " ".join(f"{x:.2f}" for x in ratios))
    print("    iic:   ", " ".join(f"{x[0]:.0f}" for x in rs), " tcp:", " ".join(f"{x[1]:.0f}" for x in rs))
'
