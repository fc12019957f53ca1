#!/bin/bash
# One line per row pair of connect-ab.sh output: variant, round, iic p50, tcp p50, ratio, probes, iic connect-phase p50.
awk '
/^== /{name=$2; round=$3; load=$6; iic=""; tcp=""; ph=""; pi=""; pt=""}
/\[connect iic\] connect:/{ph=$5}
/connect iic +p50/{for(i=1;i<=NF;i++){if($i=="p50"){iic=$(i+1); if($(i+2)=="ms") iic=iic*1000}; if($i=="probe"){pi=$(i+1)}}}
/connect tcp +p50/{for(i=1;i<=NF;i++){if($i=="p50"){tcp=$(i+1); if($(i+2)=="ms") tcp=tcp*1000}; if($i=="probe"){pt=$(i+1)}}
  printf "%-10s r%-2s load %-5s iic %7s  tcp %7s  ratio %5.2f  probes %s / %s  iic connect-phase p50 %s\n", name, round, load, iic, tcp, iic/tcp, pi, pt, ph}
' "$@"
