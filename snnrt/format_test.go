package snnrt

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func formatNets() []*Network {
	var nets []*Network
	for i, mk := range []func(*rand.Rand) *Network{convTestNet, mergeTestNet, mlpTestNet} {
		n := mk(rand.New(rand.NewPCG(uint64(i), 11)))
		n.Meta = Meta{Encoding: EncodingRate, TimestepsHint: 64, SourceSHA256: strings.Repeat("ab", 32), SourceName: "src.onnx",
			Normalization: Normalization{Method: "percentile", Percentile: 99.99, CalibSet: "mnist:train:1000", CalibCount: 1000},
			StrippedHead:  []string{"Softmax"}, Extra: map[string]string{KeyPreprocessing: `{"layout":"NCHW","scale":0.00392156862745098}`}}
		nets = append(nets, n)
	}
	return nets
}

// TestRoundTrip: Encode → Decode → Encode is byte-identical and the decoded
// network runs bit-identically.
func TestRoundTrip(t *testing.T) {
	for _, net := range formatNets() {
		t.Run(net.Name, func(t *testing.T) {
			b1, err := Encode(net)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), net.Name+".snn.onnx")
			if err := Write(path, net); err != nil {
				t.Fatal(err)
			}
			back, err := Read(path)
			if err != nil {
				t.Fatal(err)
			}
			b2, err := Encode(back)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b1, b2) {
				t.Fatalf("re-encoding differs: %d vs %d bytes", len(b1), len(b2))
			}
			if back.Meta.Normalization != net.Meta.Normalization || back.Meta.Encoding != EncodingRate ||
				back.Meta.TimestepsHint != 64 || back.Meta.Extra[KeyPreprocessing] != net.Meta.Extra[KeyPreprocessing] ||
				len(back.Meta.StrippedHead) != 1 || back.Meta.SemanticsVersion != SemanticsVersion {
				t.Fatalf("metadata lost: %+v", back.Meta)
			}
			in := testInputs(rand.New(rand.NewPCG(1, 1)), net.InputShape, 5)
			for _, enc := range []Encoding{EncodingAnalog, EncodingPoisson} {
				r1, err := Run(net, in, RunOptions{T: 16, Encoding: enc, Seed: 3, Record: net.IFNames()})
				if err != nil {
					t.Fatal(err)
				}
				r2, err := Run(back, in, RunOptions{T: 16, Encoding: enc, Seed: 3, Record: back.IFNames()})
				if err != nil {
					t.Fatal(err)
				}
				if err := sameResult(r1, r2); err != nil {
					t.Fatalf("%s: decoded network runs differently: %v", enc, err)
				}
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	good, err := Encode(formatNets()[0])
	if err != nil {
		t.Fatal(err)
	}
	v2 := bytes.Replace(good, []byte(KeySemanticsVersion+"\x12\x011"), []byte(KeySemanticsVersion+"\x12\x012"), 1)
	if bytes.Equal(v2, good) {
		t.Fatal("test setup: semantics version field not found")
	}
	unknownOp := bytes.Replace(good, []byte("SpikeMaxPool"), []byte("SpikeMinPool"), 1)
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "no snn.semantics_version"},
		{"truncated", good[:len(good)/2], "malformed"},
		{"garbage", []byte("\xff\xff\xff\xff"), "malformed"},
		{"version 2", v2, "semantics version 2 is not supported"},
		{"unknown op", unknownOp, "unknown ai.snn operator SpikeMinPool"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.b)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.snn.onnx")
	if err := os.WriteFile(path, []byte("previous"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := formatNets()[0]
	bad.Nodes[1].Threshold = []float32{-1}
	if err := Write(path, bad); err == nil || !strings.Contains(err.Error(), `node "if1" (IF)`) {
		t.Fatalf("error %v, want one naming node if1", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "previous" {
		t.Fatal("a failed write touched the existing file")
	}
	dup := formatNets()[2]
	dup.Nodes[0].Output = "d2.W" // collides with d2's weight initializer
	dup.Nodes[1].Inputs = []string{"d2.W"}
	if err := Write(path, dup); err == nil || !strings.Contains(err.Error(), "used both") {
		t.Fatalf("error %v, want a name collision", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("leftover files: %v", ents)
	}
}

func FuzzDecode(f *testing.F) {
	for _, n := range formatNets() {
		b, err := Encode(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/3])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		net, err := Decode(b)
		if err != nil {
			return
		}
		b1, err := Encode(net)
		if err != nil {
			t.Fatalf("decoded network does not encode: %v", err)
		}
		back, err := Decode(b1)
		if err != nil {
			t.Fatalf("re-encoded network does not decode: %v", err)
		}
		b2, err := Encode(back)
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("round trip unstable: %v", err)
		}
	})
}
