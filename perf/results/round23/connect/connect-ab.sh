#!/bin/bash
# usage: ab2.sh OUTDIR ROUNDS "name:DLL:ENV=V ..." ...
out=$1; rounds=$2; shift 2
mkdir -p $out
for r in $(seq 1 $rounds); do
  for v in "$@"; do
    IFS=: read name dll envs <<< "$v"
    echo "$(date -u +%T) round $r $name $(cut -d' ' -f1-3 /proc/loadavg)" >> $out/log.txt
    env $envs dotnet $dll connect --transports iic,tcp --json $out/$name-$r.json > $out/$name-$r.txt 2>&1
  done
done
echo "$(date -u +%T) done $(cut -d' ' -f1-3 /proc/loadavg)" >> $out/log.txt
