import os, sys
# Per run (o<round>-<db>-<mode>): QPS on 1 connection at each ef_search, and QPS at recall@10 0.95
# and 0.98 interpolated linearly between the ef steps that bracket it (1 connection; 2 connections
# use the same recall, since the ef steps are the same). s1: ids in input order, s2: graph order.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../20261207-prefetch/server"))
from summary import table  # the prefetch runs' readings, shared
res = table("o*-*-*.jsonl", 12)
for r in sorted({k.split('-')[0] for k in res}):
    g = lambda db, mode, i: res[f"{r}-{db}-{mode}"][i]
    try:
        print(f"{r}: graph/input order, floats @0.95 {g('s2','off',0)/g('s1','off',0):.2f} @0.98 {g('s2','off',1)/g('s1','off',1):.2f} 2c {g('s2','off',2)/g('s1','off',2):.2f}"
              f" | codes @0.95 {g('s2','on',0)/g('s1','on',0):.2f} @0.98 {g('s2','on',1)/g('s1','on',1):.2f} 2c {g('s2','on',2)/g('s1','on',2):.2f}"
              f" | codes/floats, graph order @0.95 {g('s2','on',0)/g('s2','off',0):.2f} @0.98 {g('s2','on',1)/g('s2','off',1):.2f} 2c {g('s2','on',2)/g('s2','off',2):.2f}")
    except KeyError:
        pass
