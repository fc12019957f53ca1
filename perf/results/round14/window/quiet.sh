#!/bin/bash
# Round 14 (branch window), the quiet window 10:45-11:00 UTC: the connect row A/B (main 51b02ca, this branch, this branch
# with IIC_UNMAP_COALESCE=0) in rotated rounds, then ConnectBench's in-process cycles with CPU per thread, the window
# phases and the unmap batches, then a second block of connect rows.
cd "$(dirname "$0")"
mkdir -p quiet
./connect-ab.sh quiet/connect-ab-1.txt 20 main=MAIN new=- nocoal=IIC_UNMAP_COALESCE=0
./bench-ab.sh quiet/bench-ab-1.txt 8
./connect-ab.sh quiet/connect-ab-2.txt 20 main=MAIN new=- nocoal=IIC_UNMAP_COALESCE=0
echo "quiet done $(date +%T)"
