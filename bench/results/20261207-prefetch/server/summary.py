import json, sys, glob, statistics
# Per run: QPS on 1 and 2 connections at each ef_search, and QPS at recall@10 0.95 and 0.98
# interpolated linearly between the ef steps that bracket it (1 connection; 2 connections use
# the same recall, since the ef steps are the same).
def load(f):
    d = {}
    for line in open(f):
        r = json.loads(line)
        if r["phase"] != "search" or r["system"] != "kyrodb": continue
        d.setdefault((r["ef_search"], r["connections"]), {})[r["figure"]] = r["value"]
    return d
def at(d, target, conns):
    efs = sorted(e for (e, c) in d if c == 1)
    for e0, e1 in zip(efs, efs[1:]):
        a, b = d[(e0, 1)]["recall@10"], d[(e1, 1)]["recall@10"]
        if a < target <= b:
            t = (target - a) / (b - a)
            q0, q1 = d[(e0, conns)]["qps"], d[(e1, conns)]["qps"]
            return q0 + t * (q1 - q0)
# Prints a line per run (the jsonl files matching `pattern`, names `width` wide) and returns
# {run: (QPS at 0.95 on 1 connection, at 0.98 on 1, at 0.95 on 2)}.
def table(pattern, width):
    print(f"{'run':{width}s}   ef10   ef20   ef40   ef80  ef200 | @0.95 1c  @0.98 1c | @0.95 2c")
    res = {}
    for f in sorted(glob.glob(pattern)):
        d = load(f)
        name = f[:-6]
        q = [d[(e, 1)]["qps"] for e in (10, 20, 40, 80, 200)]
        a95, a98, b95 = at(d, 0.95, 1), at(d, 0.98, 1), at(d, 0.95, 2)
        res[name] = (a95, a98, b95)
        print(f"{name:{width}s} " + " ".join(f"{x:6.0f}" for x in q) + f" | {a95:8.0f} {a98:9.0f} | {b95:8.0f}")
    print()
    return res
if __name__ == "__main__":  # ../../20261207-graph-order/server/summary.py imports load, at and table
    res = table("r*-*-*.jsonl", 18)
    for r in sorted({k.split('-')[0] for k in res}):
        g = lambda lib, mode, i: res[f"{r}-{lib}-{mode}"][i]
        print(f"{r}: new/old floats @0.95 {g('new','off',0)/g('old','off',0):.2f} @0.98 {g('new','off',1)/g('old','off',1):.2f} 2c {g('new','off',2)/g('old','off',2):.2f}"
              f" | new/old codes @0.95 {g('new','on',0)/g('old','on',0):.2f}"
              f" | codes/floats new @0.95 {g('new','on',0)/g('new','off',0):.2f} @0.98 {g('new','on',1)/g('new','off',1):.2f} 2c {g('new','on',2)/g('new','off',2):.2f}"
              f" | codes/floats old @0.95 {g('old','on',0)/g('old','off',0):.2f}")
