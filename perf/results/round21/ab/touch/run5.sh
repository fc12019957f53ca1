#!/bin/bash
cd /tmp
for i in $(seq 1 ${RUNS:-4}); do
  for v in G H; do
    case $v in G) env="IIC_TOUCH=0";; H) env="IIC_TOUCH=1";; esac
    env $env dotnet /tmp/perfG/IIC.Perf.dll pingpong --transports iic,raw-shm --sizes 32 --modes spin --api ${API:-receive} --isolation none --json /tmp/ab21/$v-$i.json > /tmp/ab21/$v-$i.out 2>&1
  done
done
