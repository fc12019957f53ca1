#!/bin/bash
# One line per row of an A/B file from connect-r11-ab.sh: variant, round, iic p50, tcp p50, ratio, probes, iic phases.
awk '/^==/{v=$2; r=$3; l=$NF} /iic\] connect:/{c=$5} /iic\] round trip:/{rt=$6} /iic\] close:/{cl=$5}
     /\[[12]\/2\] connect iic/{i=$5; pi=$(NF-1)} /\[[12]\/2\] connect tcp/{t=$5; pt=$(NF-1)}
     /within 1.5x/{printf "%-14s r%s load %-5s iic %5s tcp %5s  %.2fx  probes %s | %s  phases c %s rt %s cl %s\n", v, r, l, i, t, i/t, pi, pt, c, rt, cl}' "$1"
