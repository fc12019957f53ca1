#!/bin/bash
# usage: ab3.sh OUTDIR ROUNDS "EXTRA ARGS" "name:DLL:ENV=V ..." ...  (rotated order each round)
out=$1; rounds=$2; extra=$3; shift 3
mkdir -p $out; vs=("$@"); n=${#vs[@]}
for r in $(seq 1 $rounds); do
  for i in $(seq 0 $((n-1))); do
    v=${vs[$(( (i+r) % n ))]}
    IFS=: read name dll envs <<< "$v"
    echo "$(date -u +%T) round $r $name $(cut -d' ' -f1-3 /proc/loadavg)" >> $out/log.txt
    env $envs dotnet $dll connect --transports iic,tcp $extra --json $out/$name-$r.json > $out/$name-$r.txt 2>&1
  done
done
echo "$(date -u +%T) done $(cut -d' ' -f1-3 /proc/loadavg)" >> $out/log.txt
