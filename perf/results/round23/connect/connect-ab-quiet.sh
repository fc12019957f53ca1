#!/bin/bash
# quiet.sh OUTDIR UNTIL_HHMM THRESH "name:DLL:ENV" ... : runs a round of every variant (rotated order) whenever the 1-min load is below THRESH
out=$1; until=$2; thr=$3; shift 3
mkdir -p $out; r=0
vs=("$@")
while [ "$(date -u +%H%M)" -lt "$until" ]; do
  l=$(cut -d' ' -f1 /proc/loadavg)
  if awk -v l=$l -v t=$thr 'BEGIN{exit !(l<t)}'; then
    r=$((r+1)); n=${#vs[@]}
    for i in $(seq 0 $((n-1))); do
      v=${vs[$(( (i+r) % n ))]}
      IFS=: read name dll envs <<< "$v"
      echo "$(date -u +%T) round $r $name $(cut -d' ' -f1-3 /proc/loadavg)" >> $out/log.txt
      env $envs dotnet $dll connect --transports iic,tcp --json $out/$name-$r.json > $out/$name-$r.txt 2>&1
    done
  else
    sleep 15
  fi
done
echo "$(date -u +%T) done" >> $out/log.txt
