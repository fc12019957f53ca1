#!/bin/bash
# usage: ab.sh OUTDIR ROUNDS DLL "name:ENV=V ENV2=V" ...
out=$1; rounds=$2; dll=$3; shift 3
mkdir -p $out
for r in $(seq 1 $rounds); do
  for v in "$@"; do
    name=${v%%:*}; envs=${v#*:}
    echo "$(date -u +%T) round $r $name $(cut -d' ' -f1-3 /proc/loadavg)" >> $out/log.txt
    env $envs dotnet $dll connect --transports iic,tcp --json $out/$name-$r.json > $out/$name-$r.txt 2>&1
  done
done
echo done >> $out/log.txt
