#!/usr/bin/env python3
"""The per-step timeline of GrpcPerf's native unary-idle calls, from IIC_GRPC_TRACE=DIR stamps of both processes.

    IIC_GRPC_TRACE=/tmp/ct dotnet perf/IIC.GrpcPerf/bin/Release/net10.0/IIC.GrpcPerf.dll --paths native-iic --tests unary-idle
    python3 perf/IIC.GrpcPerf/calltrace.py /tmp/ct

Each process writes "Step ns" lines (CLOCK_MONOTONIC, shared by both) at exit: src/IIC.Grpc/Protocol/CallTrace.cs. The
client's file is the one with ClientBegin stamps; every stamp of either process from one ClientBegin to the next belongs
to that call (the calls are an idle gap apart). Per step (the first of its kind on its side in a call) this prints the
median time since ClientBegin and the median time since the step before it in the same call, i.e. where a cold call's
time goes, step by step, across both processes.
"""
import glob
import os
import statistics
import sys


def main(directory):
    stamps = []
    client_pid = None
    for path in glob.glob(os.path.join(directory, "calltrace-*.txt")):
        pid = os.path.basename(path)[len("calltrace-"):-len(".txt")]
        with open(path) as f:
            for line in f:
                step, ns = line.split()
                if step == "ClientBegin":
                    client_pid = pid
                stamps.append((int(ns), pid, step))
    if client_pid is None:
        sys.exit("no ClientBegin stamps: was the client traced (IIC_GRPC_TRACE in its environment)?")
    stamps.sort()
    calls = []
    current = None
    for ns, pid, step in stamps:
        side = "client" if pid == client_pid else "server"
        if step == "ClientBegin":
            current = {("client", "ClientBegin"): ns}
            calls.append(current)
        elif current is not None and (side, step) not in current:
            current[(side, step)] = ns
    calls = [c for c in calls if ("client", "ClientEnd") in c]
    offsets = {}
    deltas = {}
    for call in calls:
        begin = call[("client", "ClientBegin")]
        ordered = sorted(call.items(), key=lambda kv: kv[1])
        previous = begin
        for key, ns in ordered:
            offsets.setdefault(key, []).append(ns - begin)
            deltas.setdefault(key, []).append(ns - previous)
            previous = ns
    print(f"{len(calls)} calls; per step: how many calls had it, median µs since ClientBegin, median µs since the call's previous step (p90)")
    rows = sorted(offsets, key=lambda k: statistics.median(offsets[k]))
    for key in rows:
        o = sorted(offsets[key])
        d = sorted(deltas[key])
        print(f"  {key[0]:6} {key[1]:22} {len(o):5} {statistics.median(o) / 1e3:9.1f} {statistics.median(d) / 1e3:9.1f} ({d[int(0.9 * (len(d) - 1))] / 1e3:.1f})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/calltrace")
