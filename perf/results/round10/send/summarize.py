#!/usr/bin/env python3
"""Summarise an interleaved A/B file (== VARIANT ROUND header lines, then IIC.Perf progress rows): per variant and row,
every round's M msgs/s (or GB/s), '*' after a row whose probe moved, and the median of the rows whose probe did not."""
import re, sys, statistics
from collections import defaultdict
rows = defaultdict(lambda: defaultdict(list))
variant = None
for line in open(sys.argv[1]):
    m = re.match(r'== (\S+)', line)
    if m:
        variant = m.group(1)
        continue
    m = re.match(r'\[\d+/\d+\] (.+?)\s+([\d.]+) (M|k) msg/s\s+([\d.]+) (MB|GB)/s.*probe (\S+)', line)
    if m and variant:
        name = m.group(1).strip()
        value = float(m.group(2)) if m.group(3) == 'M' else float(m.group(4)) * (1 if m.group(5) == 'GB' else 0.001)
        moved = 'MOVED' in line
        rows[name][variant].append((value, moved, m.group(6)))
for name, variants in rows.items():
    print(name)
    for v, values in sorted(variants.items()):
        kept = [x for x, moved, _ in values if not moved]
        med = statistics.median(kept) if kept else float('nan')
        print(f"  {v:22s} median(kept) {med:7.2f}  rounds: " + ", ".join(f"{x:.2f}{'*' if moved else ''}" for x, moved, _ in values))
