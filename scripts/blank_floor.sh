#!/usr/bin/env bash
# blank_floor.sh — what a blank image costs next to a digit, in instructions
# rather than seconds, and what it would still cost if every IF update were
# free.
#
#   scripts/blank_floor.sh            every models/*.onnx, T=32
#   T=128 scripts/blank_floor.sh
#   scripts/blank_floor.sh lenet5 lenet5_nobias    those models only
#
# Issue 5 asks that a blank input cost < 10 % of a digit. Timings on a shared
# machine drift by more than the effect, so this counts instructions with
# valgrind's cachegrind (deterministic): `snnconvert run` of each converted
# bundled model (analog, one worker) on 64 and on 128 images, blank and
# digits (mnist:test); the difference of the two is the cost of 64 images, with
# loading and compiling cancelled out. Per model it prints the blank's and the
# digit's instructions per image, their ratio, the share of the blank's that
# goes to IF updates (the IF kernels, the per-step layer update and the
# first layer's live-set pass), and the floor: the blank's instructions without
# any IF work, as a fraction of the digit's, which is what making IF updates
# cheaper (skipping neurons no event reached, say) could at best bring the
# blank down to, its synaptic events, pools and readout costing what they do.
# Needs valgrind and python3; takes about 3 minutes at T=32, 8 at T=128.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "blank_floor.sh needs valgrind (apt-get install valgrind)" >&2; exit 1; }
T=${T:-32}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

go build -o "$tmp/snnconvert" ./cmd/snnconvert
/usr/bin/python3 - "$tmp" <<'PY'
import struct, sys
for n in (64, 128):
    with open(f"{sys.argv[1]}/blank{n}.idx", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + bytes(n * 784))
    with open(f"{sys.argv[1]}/labels{n}.idx", "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(n))
PY
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
	for m in models/*.onnx; do models+=("$(basename "$m" .onnx)"); done
fi
for name in "${models[@]}"; do
	m=models/$name.onnx
	[ -f "$m" ] || { echo "blank_floor.sh: no model $m" >&2; exit 1; }
	"$tmp/snnconvert" convert "$m" -o "$tmp/$name.snn.onnx" -q >/dev/null
	for n in 64 128; do
		for kind in blank digit; do
			data="mnist:test:$n"
			if [ "$kind" = blank ]; then
				data="idx:$tmp/blank$n.idx,$tmp/labels$n.idx"
			fi
			GOMAXPROCS=1 valgrind --tool=cachegrind --cache-sim=no \
				--cachegrind-out-file="$tmp/$name.$kind.$n.cg" \
				"$tmp/snnconvert" run "$tmp/$name.snn.onnx" --data "$data" -T "$T" --workers 1 -q >/dev/null 2>&1
		done
	done
done

/usr/bin/python3 - "$tmp" "$T" <<'PY'
import collections, glob, os, re, sys
tmp, T = sys.argv[1], sys.argv[2]
# The IF update: vector kernels, their Go drivers and tails, the per-step
# layer update and the live-set pass of a constant-current layer.
if_work = re.compile(r"snnrt\.(ifPack|ifFire|ifStep|ifTail|\(\*ifOp\)|live(AVX2|Go|Neurons))")

def per_function(path):
    """Instructions per function of a cachegrind out file."""
    fn, total = None, collections.Counter()
    for line in open(path):
        if line.startswith("fn="):
            fn = line[3:].strip()
        elif line[:1].isdigit() and fn is not None:
            f = line.split()
            if len(f) >= 2:
                total[fn] += int(f[1])
    return total

def per_image(name, kind):
    a = per_function(f"{tmp}/{name}.{kind}.64.cg")
    b = per_function(f"{tmp}/{name}.{kind}.128.cg")
    d = {k: (b[k] - a[k]) / 64 for k in b}
    return sum(d.values()), sum(v for k, v in d.items() if if_work.search(k))

print(f"instructions per image at T={T} (analog input, one worker; cachegrind)")
print("%-14s %12s %12s %9s %10s %12s" % ("model", "blank", "digit", "blank/dig", "IF share", "floor"))
for path in sorted(glob.glob(f"{tmp}/*.blank.64.cg")):
    name = os.path.basename(path)[:-len(".blank.64.cg")]
    blank, blank_if = per_image(name, "blank")
    digit, _ = per_image(name, "digit")
    print("%-14s %12.0f %12.0f %8.1f%% %9.1f%% %11.1f%%" % (
        name, blank, digit, 100 * blank / digit, 100 * blank_if / blank, 100 * (blank - blank_if) / digit))
print("IF share: the blank's instructions in IF updates. floor: the blank without them, against the digit.")
PY
