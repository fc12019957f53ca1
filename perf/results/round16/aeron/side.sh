#!/usr/bin/env bash
# side.sh: Aeron C IPC ping-pong beside IICFast's 32 B poll-claim ping-pong rows (iic, raw-shm), alternated, each
# bracketed by a placement probe; prints one summary table (and keeps every raw output in $OUT).
# It builds neither of the two things it runs:
#   AERON_BIN  (default /tmp/aeron16/build/binaries): aeronmd, cping, cpong of Aeron's C build
#   PERF_DLL   (default /work/wt/aeronside/perf/IIC.Perf/bin/Release/net10.0/IIC.Perf.dll; any checkout's
#              `dotnet build perf/IIC.Perf -c Release` output will do, e.g. /work/main/perf/IIC.Perf/bin/Release/net10.0/IIC.Perf.dll)
# Knobs: ROUNDS (default 40: ~3 min quiet, ~5-6 min under load); AERON_MSGS (default 1500000 measured round trips
#        per Aeron block, ~0.3 s near, ~0.9 s far); AERON_WARMUP (default 300000); AERON_CHANNEL (default aeron:ipc,
#        e.g. aeron:ipc?term-length=1m); OUT (default /tmp/aeron16/runs/<UTC time>).
# Each round runs block A = perf (iic + raw-shm, poll-claim, spin, 32 B; each row carries the harness's own probe
# before and after) and block B = Aeron (C probe; cpong + cping on aeron:ipc, 32 B, busy spin, client pre-touch;
# C probe), A,B on odd rounds and B,A on even ones. One media driver for the whole run: SHARED threading mode,
# backoff idle strategy (parks up to 1 ms when idle: it takes no vCPU), its directory under /dev/shm, removed at the end.
# `side.sh --summary DIR` prints the table again from an earlier run's files.
set -u
AERON_BIN=${AERON_BIN:-/tmp/aeron16/build/binaries}
PERF_DLL=${PERF_DLL:-/work/wt/aeronside/perf/IIC.Perf/bin/Release/net10.0/IIC.Perf.dll}
ROUNDS=${ROUNDS:-40}
AERON_MSGS=${AERON_MSGS:-1500000}
AERON_WARMUP=${AERON_WARMUP:-300000}
AERON_CHANNEL=${AERON_CHANNEL:-aeron:ipc}
OUT=${OUT:-/tmp/aeron16/runs/$(date -u +%Y%m%dT%H%M%SZ)}
TOOLS=/tmp/aeron16/tools
mkdir -p "$OUT" "$TOOLS"

summarize() { # the summary table from the raw files in $OUT
python3 - "$OUT" "$ROUNDS" <<'PYEOF' | tee "$OUT/summary.txt"
import json, re, sys, statistics as st
out, rounds = sys.argv[1], int(sys.argv[2])
TOL = 1.5          # the harness's rule: probes before/after within 1.5x, else MOVED
NEAR_MAX = 250     # probe p50 below this: the near placement (110-140 ns here), above: far (470-530)
BUSY = 20.0        # p50 over 20x the probe's: a spinning side lost its CPU to other work (BUSY, left out like MOVED)
FLIP = (0.7, 2.5)  # p50 outside 0.7-2.5x of the probe's, probes agreeing: the placement flipped and back during the
                   # block (near p50s read 1.1-1.5x a near probe, far ones 1.0-1.25x a far one; a block on the other
                   # placement than its probes reads 3.5-4.5x or 0.35-0.45x), left out like MOVED

def probe(path):
    try:
        m = re.search(r"probe_p50_ns=(\d+) probe_p99_ns=(\d+)", open(path).read())
        return (int(m.group(1)), int(m.group(2))) if m else None
    except OSError:
        return None

def hdr(path):
    """cping's HdrHistogram table (values in us): p50 at percentile 0.5, p99 at the first reported percentile >= 0.99."""
    try:
        text = open(path).read()
    except OSError:
        return None
    pts = [(float(p), float(v) * 1000) for v, p in re.findall(r"^\s*([\d.]+)\s+([01]\.\d+)\s+\d+\s+\S+\s*$", text, re.M)]
    if not pts or "cping_rc=0" not in text:
        return None
    at = lambda q: next(v for p, v in pts if p >= q - 1e-9)
    cpu = re.search(r"aeronmd_cpu_s=([\d.]+) block_wall_s=([\d.]+)", text)
    return {"p50": at(0.5), "p99": at(0.99), "p999": at(0.999), "md_cpu": float(cpu.group(1)) if cpu else None,
            "wall": float(cpu.group(2)) if cpu else None}

rows = []  # (round, what, p50, p99, probe_p50, probe_p99, moved)
calib = []
for r in range(1, rounds + 1):
    a, b = probe(f"{out}/aeron-{r}.probe-before"), probe(f"{out}/aeron-{r}.probe-after")
    h = hdr(f"{out}/aeron-{r}.txt")
    if h and a and b:
        moved = max(a[0], b[0]) > TOL * min(a[0], b[0])
        rows.append(dict(r=r, what="aeron", p50=h["p50"], p99=h["p99"], pp50=(a[0] + b[0]) / 2, pp99=(a[1] + b[1]) / 2,
                         moved=moved, extra=f"driver {h['md_cpu']:.2f} cpu-s in {h['wall']:.1f} s" if h["md_cpu"] is not None else ""))
    else:
        rows.append(dict(r=r, what="aeron", p50=None, p99=None, pp50=None, pp99=None, moved=True, extra="FAILED"))
    try:
        res = json.load(open(f"{out}/perf-{r}.json"))["results"]
    except (OSError, ValueError, KeyError):
        res = []
    for t in ("iic", "raw-shm"):
        x = next((x for x in res if x.get("transport") == t and x.get("api") == "poll-claim" and x.get("status") == "ok"), None)
        if x is None:
            rows.append(dict(r=r, what=t, p50=None, p99=None, pp50=None, pp99=None, moved=True, extra="FAILED"))
            continue
        pb, pa, qb, qa = (x.get(k) for k in ("probe_ns_before", "probe_ns_after", "probe_p99_ns_before", "probe_p99_ns_after"))
        ok = None not in (pb, pa, qb, qa)
        rows.append(dict(r=r, what=t, p50=x["p50_ns"], p99=x["p99_ns"], pp50=(pb + pa) / 2 if ok else None,
                         pp99=(qb + qa) / 2 if ok else None, moved=bool(x.get("probe_moved")) or not ok,
                         extra="" if ok else "a probe got no answer"))
        if t == "iic":
            c = probe(f"{out}/perf-{r}.cprobe")
            if c and pb is not None:
                calib.append((c[0], pb))

def f(v, d=0):
    return "-" if v is None else (f"{v:.{d}f}")

print()
print("Per block (ns; probe = mean of the probe before and after the block; ratio = p50/probe p50, p99/probe p99)")
print(f"{'round':>5} {'what':<8} {'probe p50':>9} {'probe p99':>9} {'p50':>6} {'p99':>6} {'p50/probe':>9} {'p99/probe':>9}  place  note")
for x in rows:
    r50 = x["p50"] / x["pp50"] if x["p50"] and x["pp50"] else None
    r99 = x["p99"] / x["pp99"] if x["p99"] and x["pp99"] else None
    place = "-" if x["pp50"] is None else ("MOVED" if x["moved"] else ("BUSY" if r50 > BUSY else
             ("FLIP" if not FLIP[0] <= r50 <= FLIP[1] else ("near" if x["pp50"] < NEAR_MAX else "far"))))
    x["place"], x["r50"], x["r99"] = place, r50, r99
    print(f"{x['r']:>5} {x['what']:<8} {f(x['pp50']):>9} {f(x['pp99']):>9} {f(x['p50']):>6} {f(x['p99']):>6} {f(r50,2):>9} {f(r99,2):>9}  {place:<5}  {x['extra']}")

print()
print("Summary: medians over the blocks of each placement (MOVED, FLIP, BUSY and failed blocks left out); n = blocks")
print("  left out of " + str(rounds) + " blocks each: " + "; ".join(w + " " + ", ".join(f"{k} {sum(1 for x in rows if x['what'] == w and x['place'] == k)}" for k in ("MOVED", "FLIP", "BUSY", "-")) for w in ("aeron", "iic", "raw-shm")))
print(f"{'place':<5} {'what':<8} {'n':>3} {'probe p50':>9} {'p50':>6} {'p99':>6} {'p50/probe':>9} {'p99/probe p99':>13} {'p50 range/probe':>15}")
for place in ("near", "far"):
    for what in ("aeron", "iic", "raw-shm"):
        xs = [x for x in rows if x["what"] == what and x["place"] == place]
        if not xs:
            continue
        m = lambda k: st.median([x[k] for x in xs])
        lo, hi = min(x["r50"] for x in xs), max(x["r50"] for x in xs)
        print(f"{place:<5} {what:<8} {len(xs):>3} {f(m('pp50')):>9} {f(m('p50')):>6} {f(m('p99')):>6} {f(m('r50'),2):>9} {f(m('r99'),2):>13} {f(lo,2):>7}-{f(hi,2)}")

print()
print("Paired in a round, both blocks on the same placement (probes within 1.5x): p50 ratio, median [min-max] (n)")
for other in ("iic", "raw-shm"):
    ratios = []
    for r in range(1, rounds + 1):
        a = next((x for x in rows if x["r"] == r and x["what"] == "aeron" and x["place"] in ("near", "far")), None)
        o = next((x for x in rows if x["r"] == r and x["what"] == other and x["place"] in ("near", "far")), None)
        if a and o and max(a["pp50"], o["pp50"]) <= TOL * min(a["pp50"], o["pp50"]):
            ratios.append((o["p50"] / a["p50"], a["place"]))
    for place in ("near", "far"):
        rs = [v for v, p in ratios if p == place]
        if rs:
            print(f"  {other} p50 / aeron p50, {place}: {st.median(rs):.2f} [{min(rs):.2f}-{max(rs):.2f}] ({len(rs)})")
for place, inside in (("near", lambda v: v < NEAR_MAX), ("far", lambda v: v >= NEAR_MAX)):
    d = [c - n for c, n in calib if inside(c) and inside(n)]
    if d:
        print(f"C probe (run just before the perf process) minus the harness's first probe_ns_before, both {place}: median {st.median(d):+.0f} ns [{min(d):+d}..{max(d):+d}] ({len(d)})")
print(f"raw files: {out}")
PYEOF
}

if [ "${1:-}" = --summary ]; then # side.sh --summary DIR: the table again from an earlier run's files
  OUT=$2; ROUNDS=$(ls "$OUT"/aeron-*.txt | wc -l); summarize; exit 0
fi

for f in aeronmd cping cpong; do
  [ -x "$AERON_BIN/$f" ] || { echo "missing $AERON_BIN/$f (build Aeron's C driver and samples first)" >&2; exit 2; }
done
[ -f "$PERF_DLL" ] || { echo "missing $PERF_DLL (dotnet build perf/IIC.Perf -c Release)" >&2; exit 2; }

# The C twin of perf/IIC.Perf/Harness/PlacementProbe.cs (0-byte round trips, one cache line each way, 500 + 4000,
# p50 = sorted[2000], p99 = sorted[3960], CLOCK_MONOTONIC), built here if missing.
if [ ! -x "$TOOLS/probe" ]; then
cat > "$TOOLS/probe.c" <<'CEOF'
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <signal.h>
#include <sys/prctl.h>
#define WARMUP 500
#define SAMPLES 4000
static inline int64_t now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec; }
static int cmp(const void *a, const void *b) { int64_t x = *(const int64_t *)a, y = *(const int64_t *)b; return (x > y) - (x < y); }
int main(int argc, char **argv)
{
    int bursts = argc > 1 ? atoi(argv[1]) : 1;
    volatile int64_t *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (page == MAP_FAILED) { perror("mmap"); return 2; }
    volatile int64_t *ping = page, *pong = page + 32; /* 256 B apart, as the harness's probe */
    *ping = 0; *pong = 0;
    pid_t child = fork();
    if (child == 0)
    {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never left spinning after its parent */
        int64_t last = 0, deadline = now_ns() + 60LL * 1000000000;
        for (uint64_t spins = 0;; spins++)
        {
            int64_t v = __atomic_load_n(ping, __ATOMIC_ACQUIRE);
            if (v == -1) _exit(0);
            if (v != last) { __atomic_store_n(pong, v, __ATOMIC_RELEASE); last = v; }
            else if ((spins & 0xFFFF) == 0 && now_ns() > deadline) _exit(3);
        }
    }
    static int64_t samples[SAMPLES];
    int64_t counter = 0;
    int rc = 0;
    for (int b = 0; b < bursts && rc == 0; b++)
    {
        int64_t give_up = now_ns() + 5LL * 1000000000;
        for (int i = 0; i < WARMUP + SAMPLES; i++)
        {
            int64_t value = ++counter;
            int64_t before = now_ns();
            __atomic_store_n(ping, value, __ATOMIC_RELEASE);
            uint64_t spins = 0;
            while (__atomic_load_n(pong, __ATOMIC_ACQUIRE) != value)
            {
                if ((++spins & 0xFFFF) == 0 && now_ns() > give_up) { rc = 1; break; }
            }
            if (rc) break;
            int64_t after = now_ns();
            if (i >= WARMUP) samples[i - WARMUP] = after - before;
        }
        if (rc) { printf("probe_p50_ns=NA probe_p99_ns=NA\n"); break; }
        qsort(samples, SAMPLES, sizeof samples[0], cmp);
        printf("probe_p50_ns=%lld probe_p99_ns=%lld\n", (long long)samples[SAMPLES / 2], (long long)samples[SAMPLES * 99 / 100]);
    }
    __atomic_store_n(ping, -1, __ATOMIC_RELEASE);
    waitpid(child, NULL, 0);
    return rc;
}
CEOF
  gcc -O2 -Wall -o "$TOOLS/probe" "$TOOLS/probe.c" || { echo "could not build the C probe" >&2; exit 2; }
fi

export AERON_DIR=/dev/shm/aeron16-side-$$
MD_PID=""; PONG_PID=""; PING_PID=""
cleanup() {
  [ -n "$PING_PID" ] && kill -TERM "$PING_PID" 2>/dev/null && wait "$PING_PID" 2>/dev/null
  [ -n "$PONG_PID" ] && kill -INT "$PONG_PID" 2>/dev/null && wait "$PONG_PID" 2>/dev/null
  [ -n "$MD_PID" ] && kill -INT "$MD_PID" 2>/dev/null && wait "$MD_PID" 2>/dev/null
  rm -rf "$AERON_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cpu_ticks() { awk '{print $14 + $15}' /proc/$1/stat 2>/dev/null || echo 0; }

{
  echo "side.sh started $(date -u +%FT%TZ) on $(hostname), $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "aeron: $("$AERON_BIN/cping" -v 2>/dev/null | head -1)"
  echo "perf dll: $PERF_DLL ($(stat -c %y "$PERF_DLL"))"
  echo "ROUNDS=$ROUNDS AERON_MSGS=$AERON_MSGS AERON_WARMUP=$AERON_WARMUP AERON_CHANNEL=$AERON_CHANNEL"
} | tee "$OUT/meta.txt"

AERON_THREADING_MODE=SHARED AERON_SHARED_IDLE_STRATEGY=backoff AERON_DIR_DELETE_ON_START=1 AERON_DIR_DELETE_ON_SHUTDOWN=1 \
  "$AERON_BIN/aeronmd" > "$OUT/aeronmd.log" 2>&1 &
MD_PID=$!
for i in $(seq 100); do [ -f "$AERON_DIR/cnc.dat" ] && break; sleep 0.05; done
[ -f "$AERON_DIR/cnc.dat" ] || { echo "aeronmd did not start (see $OUT/aeronmd.log)" >&2; exit 3; }
sleep 0.2

perf_block() { # $1 round
  "$TOOLS/probe" > "$OUT/perf-$1.cprobe" 2>&1   # the C probe beside the harness's own, to compare the two probes
  dotnet "$PERF_DLL" pingpong --transports iic,raw-shm --sizes 32 --api poll-claim --modes spin --isolation none \
    --json "$OUT/perf-$1.json" --png "$OUT/perf-$1.png" > "$OUT/perf-$1.txt" 2> "$OUT/perf-$1.err"
  rm -f "$OUT/perf-$1.png"
}

aeron_block() { # $1 round
  local r=$1 md0 md1 t0 t1
  "$TOOLS/probe" > "$OUT/aeron-$r.probe-before" 2>&1
  md0=$(cpu_ticks "$MD_PID"); t0=$(date +%s.%N)
  # Fresh stream ids per block: a block's cping must not find the image of the previous block's lingering publication.
  local ping_stream=$((2000 + 2 * r)) pong_stream=$((2001 + 2 * r))
  AERON_CLIENT_PRE_TOUCH_MAPPED_MEMORY=true "$AERON_BIN/cpong" -c "$AERON_CHANNEL" -C "$AERON_CHANNEL" \
    -s "$ping_stream" -S "$pong_stream" > "$OUT/aeron-$r.pong" 2>&1 &
  PONG_PID=$!
  AERON_CLIENT_PRE_TOUCH_MAPPED_MEMORY=true timeout 60 "$AERON_BIN/cping" -c "$AERON_CHANNEL" -C "$AERON_CHANNEL" \
    -s "$ping_stream" -S "$pong_stream" -w "$AERON_WARMUP" -m "$AERON_MSGS" > "$OUT/aeron-$r.txt" 2>&1 &
  PING_PID=$!
  wait "$PING_PID"; echo "cping_rc=$?" >> "$OUT/aeron-$r.txt"; PING_PID=""
  kill -INT "$PONG_PID" 2>/dev/null; wait "$PONG_PID" 2>/dev/null; PONG_PID=""
  md1=$(cpu_ticks "$MD_PID"); t1=$(date +%s.%N)
  echo "aeronmd_cpu_s=$(awk -v a="$md0" -v b="$md1" 'BEGIN{printf "%.2f", (b-a)/100}') block_wall_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')" >> "$OUT/aeron-$r.txt"
  "$TOOLS/probe" > "$OUT/aeron-$r.probe-after" 2>&1
}

for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then perf_block "$r"; aeron_block "$r"; else aeron_block "$r"; perf_block "$r"; fi
  echo "round $r/$ROUNDS done $(date -u +%T) load $(cut -d' ' -f1 /proc/loadavg)" >&2
done
echo "ended $(date -u +%FT%TZ), load: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/meta.txt"

summarize
