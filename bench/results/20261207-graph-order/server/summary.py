import glob, os, sys
# Per run (o<round>-<db>-<mode>): QPS on 1 connection at each ef_search, and QPS at recall@10 0.95
# and 0.98 interpolated linearly between the ef steps that bracket it (1 connection; 2 connections
# use the same recall, since the ef steps are the same). s1: ids in input order, s2: graph order.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../20261207-prefetch/server"))
from summary import load, at  # the prefetch runs' readings, shared
runs = sorted(glob.glob("o*-*-*.jsonl"))
print("run            ef10   ef20   ef40   ef80  ef200 | @0.95 1c  @0.98 1c | @0.95 2c")
res = {}
for f in runs:
    d = load(f)
    name = f[:-6]
    q = [d[(e, 1)]["qps"] for e in (10, 20, 40, 80, 200)]
    a95, a98, b95 = at(d, 0.95, 1), at(d, 0.98, 1), at(d, 0.95, 2)
    res[name] = (a95, a98, b95)
    print(f"{name:12s} " + " ".join(f"{x:6.0f}" for x in q) + f" | {a95:8.0f} {a98:9.0f} | {b95:8.0f}")
print()
for r in sorted({k.split('-')[0] for k in res}):
    g = lambda db, mode, i: res[f"{r}-{db}-{mode}"][i]
    try:
        print(f"{r}: graph/input order, floats @0.95 {g('s2','off',0)/g('s1','off',0):.2f} @0.98 {g('s2','off',1)/g('s1','off',1):.2f} 2c {g('s2','off',2)/g('s1','off',2):.2f}"
              f" | codes @0.95 {g('s2','on',0)/g('s1','on',0):.2f} @0.98 {g('s2','on',1)/g('s1','on',1):.2f} 2c {g('s2','on',2)/g('s1','on',2):.2f}"
              f" | codes/floats, graph order @0.95 {g('s2','on',0)/g('s2','off',0):.2f} @0.98 {g('s2','on',1)/g('s2','off',1):.2f} 2c {g('s2','on',2)/g('s2','off',2):.2f}")
    except KeyError:
        pass
