package importer

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/snnconvert/snnconvert/eval/dataset"
)

// validMLP is a small well-formed model: x [N,4] -> Gemm(4->3) -> Relu -> y.
func validMLP() *mb {
	w := make([]float32, 12)
	for i := range w {
		w[i] = float32(i%5) - 2
	}
	return newModel(13).
		input("x", dtFloat, "N", 4).
		output("y").
		init(tensorF("W", []int64{3, 4}, w)).
		init(tensorF("B", []int64{3}, []float32{0.5, -0.5, 0})).
		node("Gemm", "fc", []string{"x", "W", "B"}, []string{"h"}, aInt("transB", 1)).
		node("Relu", "relu", []string{"h"}, []string{"y"})
}

// TestMalformed feeds broken files and checks that each error names the
// problem (and never panics).
func TestMalformed(t *testing.T) {
	valid := validMLP().bytes()
	if _, err := Import(valid, Options{}); err != nil {
		t.Fatalf("the valid base model does not import: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "w.bin"), make([]byte, 48), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(filepath.Dir(dir), "secret.bin")
	_ = os.WriteFile(outside, make([]byte, 48), 0o644)
	t.Cleanup(func() { os.Remove(outside) })

	withInit := func(tensor []byte) []byte {
		return newModel(13).input("x", dtFloat, "N", 4).output("y").init(tensor).
			node("Gemm", "fc", []string{"x", "W"}, []string{"y"}, aInt("transB", 1)).bytes()
	}
	ext := func(loc string, off, length int) []byte {
		return withInit(tensorExternal("W", []int64{3, 4}, loc, off, length))
	}
	cases := []struct {
		name string
		data []byte
		want []string // substrings the error must contain
	}{
		{"empty", nil, []string{"empty file"}},
		{"png magic", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), []string{"not a valid ONNX model"}},
		{"json text", []byte(`{"graph": {"node": []}}`), []string{"not"}},
		{"truncated 10 bytes", valid[:10], []string{"model"}},
		{"truncated half", valid[:len(valid)/2], []string{"not a valid ONNX model"}},
		{"truncated all but one byte", valid[:len(valid)-1], []string{"not a valid ONNX model"}},
		{"no ir_version", appendBytes(nil, 7, appendString(nil, 2, "g")), []string{"no ir_version"}},
		{"no graph", appendVarint(nil, 1, 7), []string{"no graph"}},
		{"graph without nodes", newModel(13).input("x", dtFloat, "N", 4).output("y").bytes(), []string{"has no nodes"}},
		{"graph without outputs", func() []byte { m := validMLP(); m.outputs = nil; return m.bytes() }(), []string{"declares no outputs"}},
		{"no opset import", func() []byte {
			b := appendVarint(nil, 1, 7)
			m := validMLP()
			var g []byte
			for _, n := range m.nodes {
				g = appendBytes(g, 1, n)
			}
			for _, t := range m.inits {
				g = appendBytes(g, 5, t)
			}
			for _, v := range m.inputs {
				g = appendBytes(g, 11, v)
			}
			for _, v := range m.outputs {
				g = appendBytes(g, 12, v)
			}
			return appendBytes(b, 7, g)
		}(), []string{"opset"}},
		{"wire type mismatch", append(appendString(nil, 1, "seven"), valid...), []string{"wire type"}},
		{"absurd dims", withInit(tensorF("W", []int64{1 << 30, 1 << 30}, []float32{1})), []string{`"W"`, "ask for more than"}},
		{"dims larger than data", withInit(tensorF("W", []int64{3, 4000}, []float32{1, 2, 3})), []string{`"W"`, "needs 48000 bytes of raw data, found 12"}},
		{"negative dim", withInit(tensorF("W", []int64{-3, 4}, nil)), []string{"negative dimension"}},
		{"no data", withInit(tensorRaw("W", dtFloat, []int64{3, 4}, nil)), []string{"found 0"}},
		{"string initializer", withInit(tensorRaw("W", dtString, []int64{1}, []byte("a"))), []string{"string is not supported"}},
		{"dangling input", newModel(13).input("x", dtFloat, "N", 4).output("y").
			node("Add", "add", []string{"x", "ghost"}, []string{"y"}).bytes(), []string{`"add"`, `"ghost"`, "not produced by any node"}},
		{"external data escapes", ext("../secret.bin", 0, 48), []string{"escapes the model directory"}},
		{"external data absolute", ext(outside, 0, 48), []string{"must be a relative path"}},
		{"external data missing", ext("missing.bin", 0, 48), []string{"missing.bin", "no such file"}},
		{"external data short", ext("w.bin", 16, 48), []string{"past the end"}},
		{"external data wrong size", ext("w.bin", 0, 40), []string{"needs 48 bytes of raw data, found 40"}},
		{"external data file too large", withInit(func() []byte {
			// No length: the data runs to the end of the file.
			b := appendVarint(appendVarint(nil, 1, 3), 1, 4)
			b = appendString(appendVarint(b, 2, dtFloat), 8, "W")
			b = appendBytes(b, 13, appendString(appendString(nil, 1, "location"), 2, "big.bin"))
			return appendVarint(b, 14, 1)
		}()), []string{`"W" (initializer)`, `needs 48 bytes of raw data, found 4096 in "big.bin"`}},
		{"every unsupported node listed", newModel(13).input("x", dtFloat, "N", 3, 8, 8).output("y").
			node("Resize", "up", []string{"x"}, []string{"a"}).
			node("Relu", "r", []string{"a"}, []string{"b"}).
			node("Erf", "erf", []string{"b"}, []string{"c"}).
			node("LSTM", "lstm", []string{"c"}, []string{"y"}).bytes(),
			[]string{"3 problems", `"up" (Resize, opset 13)`, `"erf" (Erf, opset 13)`, `"lstm" (LSTM, opset 13)`, "hint:"}},
		{"cycle", newModel(13).input("x", dtFloat, "N", 4).output("y").
			node("Add", "a", []string{"x", "c"}, []string{"b"}).
			node("Relu", "b", []string{"b"}, []string{"c"}).
			node("Relu", "out", []string{"x"}, []string{"y"}).bytes(), []string{"cycle"}},
		{"symbolic image size", newModel(13).input("x", dtFloat, "N", 3, "H", 8).output("y").
			node("Relu", "r", []string{"x"}, []string{"y"}).bytes(), []string{`"x"`, "only the batch axis"}},
		{"sub-graph attribute", newModel(13).input("x", dtFloat, "N", 4).output("y").
			node("If", "branch", []string{"x"}, []string{"y"}, aGraph("then_branch")).bytes(), []string{`"branch"`, "sub-graph"}},
		{"reshape mixes samples", newModel(13).input("x", dtFloat, "N", 4).output("y").
			init(tensorI("s", []int64{2}, []int64{-1, 2})).
			node("Reshape", "rs", []string{"x", "s"}, []string{"y"}).bytes(), []string{`"rs"`, "mix samples"}},
		{"conv weights not constant", newModel(13).input("x", dtFloat, "N", 1, 4, 4).input("w", dtFloat, 1, 1, 3, 3).output("y").
			node("Conv", "conv", []string{"x", "w"}, []string{"y"}).bytes(), []string{`"conv"`, "must be a constant"}},
		{"float data count mismatch", withInit(func() []byte {
			b := appendVarint(appendVarint(nil, 1, 3), 1, 4)
			b = appendVarint(b, 2, dtFloat)
			b = appendBytes(b, 4, make([]byte, 8))
			return appendString(b, 8, "W")
		}()), []string{"declares 12 elements but the tensor stores 2"}},
		{"custom domain", func() []byte {
			m := newModel(13).input("x", dtFloat, "N", 4).output("y")
			n := appendString(appendString(appendString(appendString(nil, 1, "x"), 2, "y"), 3, "q"), 4, "Quant")
			m.nodes = append(m.nodes, appendString(n, 7, "com.example"))
			return m.bytes()
		}(), []string{`"q"`, "com.example"}},
		{"NaN weight", withInit(tensorF("W", []int64{3, 4}, []float32{0, 1, 2, float32(math.NaN()), 4, 5, 6, 7, 8, 9, 10, 11})),
			[]string{`"W" (initializer)`, "element 3 of shape [3 4] is NaN", "re-export from a good checkpoint"}},
		{"NaN constant", newModel(13).input("x", dtFloat, "N", 4).output("y").
			node("Constant", "k", nil, []string{"c"}, aTensor("value", tensorF("", []int64{1}, []float32{float32(math.NaN())}))).
			node("Add", "add", []string{"x", "c"}, []string{"y"}).bytes(), []string{`node "k" (Constant, opset 13)`, `attribute "value"`, "is NaN"}},
		{"duplicate initializer", func() []byte {
			m := validMLP()
			m.inits = append(m.inits, tensorF("B", []int64{3}, []float32{1, 2, 3}))
			return m.bytes()
		}(), []string{`"B" (initializer)`, "used twice"}},
		{"unnamed initializer", withInit(tensorF("", []int64{3, 4}, make([]float32, 12))), []string{"initializer #0", "has no name"}},
		{"IR version from the future", func() []byte {
			m := validMLP()
			m.ir = 99
			return m.bytes()
		}(), []string{"IR version 99"}},
		{"segmented tensor", withInit(append(tensorF("W", []int64{3, 4}, make([]float32, 12)), appendBytes(nil, 3, nil)...)),
			[]string{`"W"`, "segmented tensors are not supported"}},
		{"overlong varint", append(appendVarint(nil, 1, 7), 0x38, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), []string{"not a valid ONNX model"}},
	}
	if len(cases) < 20 {
		t.Fatalf("only %d malformed cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, err := Import(c.data, Options{Name: "bad.onnx", BaseDir: dir})
			if err == nil {
				t.Fatalf("imported without error: %d nodes", len(g.Nodes))
			}
			if errors.Is(err, errInternal) {
				t.Fatalf("internal error (panic) instead of a diagnosis: %v", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "bad.onnx") {
				t.Errorf("error does not name the file: %s", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not contain %q:\n%s", w, msg)
				}
			}
		})
	}
}

// fuzzSeeds are the shared corpus models, the bundled models, the synthetic
// models of this package's tests, and truncated variants of each.
func fuzzSeeds(f testing.TB) [][]byte {
	var seeds [][]byte
	var files []string
	for _, pat := range []string{
		filepath.Join(dataset.CorpusDir(), "models", "*.onnx"),
		filepath.Join(dataset.CorpusDir(), "negative", "*.onnx"),
		filepath.Join("..", "models", "*.onnx"),
	} {
		m, _ := filepath.Glob(pat)
		files = append(files, m...)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	seeds = append(seeds, validMLP().bytes())
	for _, c := range opCases() {
		seeds = append(seeds, c.model.bytes())
	}
	n := len(seeds)
	for _, s := range seeds[:n] {
		for _, cut := range []int{len(s) / 2, len(s) / 3, len(s) - 7, 64} {
			if cut > 0 && cut < len(s) {
				seeds = append(seeds, s[:cut])
			}
		}
	}
	return seeds
}

// maxFuzzInput keeps the fuzzer (go test -fuzz) on inputs it can execute
// thousands of times a second: the megabyte corpus models stay in the seed run
// (plain go test runs every seed), but mutating them mostly re-exercises the
// same weight decoding at a few executions per second.
const maxFuzzInput = 32 << 10

// fuzzTimeLimit fails an input that keeps Import busy this long: every size
// the importer allocates or loops over is bounded by the input, so a 32 KiB
// input taking seconds is a missing bound (go test -fuzz has no per-input
// timeout of its own and would just stall).
const fuzzTimeLimit = 10 * time.Second

// FuzzImport checks that no byte string makes the importer panic (which
// Import would report as errInternal) or return a graph that fails its own
// shape inference.
func FuzzImport(f *testing.F) {
	fz := flag.Lookup("test.fuzz")
	fuzzing := fz != nil && fz.Value.String() != ""
	for _, s := range fuzzSeeds(f) {
		if !fuzzing || len(s) <= maxFuzzInput {
			f.Add(s)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if fuzzing {
			if len(data) > maxFuzzInput {
				return
			}
			// A panic on the timer goroutine kills the worker, which makes
			// the fuzzer save the input as a crasher.
			watchdog := time.AfterFunc(fuzzTimeLimit, func() {
				panic(fmt.Sprintf("Import still running after %v on a %d-byte input", fuzzTimeLimit, len(data)))
			})
			defer watchdog.Stop()
		}
		g, err := Import(data, Options{Name: "fuzz.onnx"})
		if err != nil {
			if errors.Is(err, errInternal) {
				t.Fatalf("panic inside the importer: %v", err)
			}
			return
		}
		if len(g.Inputs) == 0 || len(g.Outputs) == 0 {
			t.Fatalf("imported graph has %d inputs and %d outputs", len(g.Inputs), len(g.Outputs))
		}
	})
}
