import json, sys
# QPS at recall@10 0.95, interpolated linearly between the two ef steps that bracket it.
for f in sys.argv[1:]:
    d = {}
    for line in open(f):
        r = json.loads(line)
        if r["phase"] != "grow" or r["ef_search"] in (None, 0): continue
        d.setdefault(r["system"], {}).setdefault(r["ef_search"], {})[r["figure"]] = r["value"]
    for pct in (10, 50, 100):
        out = []
        for kind in ("grown", "fresh"):
            rows = sorted(d[f"kyrodb-{kind}-{pct}pct"].items())
            val = None
            for (e0, a), (e1, b) in zip(rows, rows[1:]):
                if a["recall@10"] < 0.95 <= b["recall@10"]:
                    t = (0.95 - a["recall@10"]) / (b["recall@10"] - a["recall@10"])
                    val = a["qps"] + t * (b["qps"] - a["qps"])
            out.append(val)
        print(f, pct, "grown %.0f fresh %.0f ratio %.2f" % (out[0], out[1], out[0] / out[1]))
