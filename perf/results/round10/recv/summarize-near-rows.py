"""Near-placement rows (both probes <= 200 ns, not MOVED, p50 < 5 us: not preempted) of the interleaved A/B files, per build and row."""
import re, sys, collections
rows = collections.defaultdict(list)
for path in sys.argv[1:]:
    build = None
    for line in open(path):
        m = re.match(r'== (\w+) (\d+)', line)
        if m:
            build = m.group(1); continue
        m = re.match(r'\[\d+/\d+\] pingpong (.+?) 32 B\s+p50 ([\d.]+) µs\s+p99 ([\d.]+) µs.*probe (\d+)/(\d+)( MOVED)? ns', line)
        if not m or m.group(6):
            continue
        name, p50, p99, b, a = m.group(1), float(m.group(2)), float(m.group(3)), int(m.group(4)), int(m.group(5))
        if b > 200 or a > 200 or p50 > 5:
            continue
        rows[(name.strip(), build)].append((p50, p99, (a + b) / 2))
for (name, build), vals in sorted(rows.items()):
    cells = '  '.join(f'{p50:.2f}/{p99:.2f} ({p50 * 1000 / probe:.2f}x probe {probe:.0f})' for p50, p99, probe in vals)
    print(f'{name:28} {build:4} {cells}')
