#!/usr/bin/env bash
# bench.sh — snnrt benchmarks on 2 cores, printed as one table.
#
#   scripts/bench.sh                 synthetic networks + bundled models
#   BENCHTIME=5x N=1000 scripts/bench.sh
#
# Part 1 (go test -bench in snnrt): hand-built mlp/lenet5/cnn_bn-shaped
# networks, random weights, thresholds tuned to ~10% firing, T=32 and 128,
# batch 64, 2 workers, digit-like and blank inputs, plus the raw scatter-add
# limit. Part 2: every models/*.onnx converted with `snnconvert convert` and
# run with `snnconvert run --json` (analog, batch 64, 2 workers) on mnist:test:N.
# GOMAXPROCS=2 throughout; on a shared machine the figures are lower bounds.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOMAXPROCS=2
BENCHTIME=${BENCHTIME:-3x}
N=${N:-1000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

go test ./snnrt/ -run '^$' -bench 'BenchmarkRun' -benchtime "$BENCHTIME" -count 1 >"$tmp/bench.txt"
# The scatter-add loop needs many iterations to leave its setup behind.
go test ./snnrt/ -run '^$' -bench 'BenchmarkScatterAdd' -benchtime 1s -count 1 >>"$tmp/bench.txt"

go build -o "$tmp/snnconvert" ./cmd/snnconvert
for m in models/*.onnx; do
	name=$(basename "$m" .onnx)
	if "$tmp/snnconvert" convert "$m" -o "$tmp/$name.snn.onnx" -q >"$tmp/$name.convert.txt" 2>&1; then
		for T in 32 128; do
			"$tmp/snnconvert" run "$tmp/$name.snn.onnx" --data "mnist:test:$N" -T "$T" --batch 64 --workers 2 -q --json \
				>"$tmp/$name.T$T.json" 2>/dev/null || rm -f "$tmp/$name.T$T.json"
		done
	else
		echo "convert $m failed: $(tail -1 "$tmp/$name.convert.txt")" >&2
	fi
done

/usr/bin/python3 - "$tmp" <<'PY'
import glob, json, os, re, sys
tmp = sys.argv[1]
rows, limit = {}, 0.0
for line in open(os.path.join(tmp, "bench.txt")):
    if not line.startswith("Benchmark"):
        continue
    f = line.split()
    name = re.sub(r"-\d+$", "", f[0])
    vals = {f[i + 1]: float(f[i]) for i in range(2, len(f) - 1, 2)}
    if name.startswith("BenchmarkScatterAdd"):
        limit = max(limit, vals.get("adds/s", 0))
    else:
        rows[name[len("BenchmarkRun/"):]] = vals
print("scatter-add limit (best row length, 2 goroutines): %.3g adds/s" % limit)
print()
print("%-28s %10s %12s %9s %8s %10s %9s" % ("synthetic network", "images/s", "events/s", "of limit", "rate", "allocs/op", "blank/dig"))
for k, v in rows.items():
    blank = ""
    if k.endswith("/digit"):
        b = rows.get(k[:-len("digit")] + "blank")
        if b:
            blank = "%.1f%%" % (100 * v["images/s"] / b["images/s"])
    print("%-28s %10.0f %12.3g %8.1f%% %8.3f %10.0f %9s" % (k, v["images/s"], v["events/s"],
          100 * v["events/s"] / limit if limit else 0, v["rate"], v.get("allocs/op", 0), blank))
print()
print("%-16s %4s %9s %10s %12s %9s %12s %12s %9s" % ("bundled model", "T", "accuracy", "images/s", "events/s", "of limit", "ACs/image", "MACs/image", "energy uJ"))
for path in sorted(glob.glob(os.path.join(tmp, "*.T*.json"))):
    r = json.load(open(path))
    name = os.path.basename(path).split(".")[0]
    print("%-16s %4d %8.2f%% %10.0f %12.3g %8.1f%% %12.3g %12.3g %9.3f" % (name, r["T"], 100 * r["points"][-1]["accuracy"],
          r["images_per_sec"], r["synaptic_events_per_sec"], 100 * r["synaptic_events_per_sec"] / limit if limit else 0,
          r["acs_per_image"], r["macs_per_image"], r["energy_uj_per_image_estimate"]))
print()
print("allocs/op is per Run of 64 images (buffers and results); the step loop itself allocates nothing (TestNoAllocInStepLoop).")
print("energy: estimate, 0.9 pJ/AC and 4.6 pJ/MAC (Horowitz 2014); memory traffic not counted.")
PY
