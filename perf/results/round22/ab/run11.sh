#!/bin/bash
# Final build (/tmp/perfI): idle-gap echo (round trips after a random 10 us..1 ms pause; the server's receive waits past its fast spin), G = IIC_REPLY_LINE_AT_RECEIVE=0 (no early store at the receive), D = default.
cd /tmp
out=${OUT:-/tmp/ab22/idle}
for i in $(seq ${FROM:-1} ${RUNS:-4}); do
  for v in G D; do
    case $v in G) env="IIC_REPLY_LINE_AT_RECEIVE=0";; D) env="IIC_REPLY_LINE_AT_RECEIVE=";; esac
    env $env dotnet /tmp/perfI/IIC.Perf.dll idlegap --transports iic --modes spin,adaptive --isolation none --duration 2 --json $out/$v-$i.json > $out/$v-$i.out 2>&1
  done
done
