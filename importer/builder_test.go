package importer

import (
	"encoding/binary"
	"math"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// A tiny ONNX writer for tests: it builds models field by field so tests can
// produce exactly the quirks (and the corruptions) they need.

type mb struct {
	ir      int64
	opset   int64
	nodes   [][]byte
	inits   [][]byte
	inputs  [][]byte
	outputs [][]byte
	extra   []byte // appended raw to the graph message
}

func newModel(opset int64) *mb { return &mb{ir: 7, opset: opset} }

func (m *mb) node(op, name string, ins, outs []string, attrs ...[]byte) *mb {
	var b []byte
	for _, s := range ins {
		b = appendString(b, 1, s)
	}
	for _, s := range outs {
		b = appendString(b, 2, s)
	}
	b = appendString(b, 3, name)
	b = appendString(b, 4, op)
	for _, a := range attrs {
		b = appendBytes(b, 5, a)
	}
	m.nodes = append(m.nodes, b)
	return m
}

func (m *mb) init(t []byte) *mb { m.inits = append(m.inits, t); return m }

// input declares a float32 graph input; dims are ints or strings (symbolic).
func (m *mb) input(name string, elem int32, dims ...any) *mb {
	m.inputs = append(m.inputs, valueInfo(name, elem, dims...))
	return m
}

func (m *mb) output(name string) *mb {
	m.outputs = append(m.outputs, valueInfo(name, dtFloat))
	return m
}

func (m *mb) bytes() []byte {
	var g []byte
	for _, n := range m.nodes {
		g = appendBytes(g, 1, n)
	}
	g = appendString(g, 2, "test")
	for _, t := range m.inits {
		g = appendBytes(g, 5, t)
	}
	for _, v := range m.inputs {
		g = appendBytes(g, 11, v)
	}
	for _, v := range m.outputs {
		g = appendBytes(g, 12, v)
	}
	g = append(g, m.extra...)
	b := appendVarint(nil, 1, uint64(m.ir))
	b = appendString(b, 2, "builder_test")
	b = appendBytes(b, 7, g)
	b = appendBytes(b, 8, appendVarint(appendString(nil, 1, ""), 2, uint64(m.opset)))
	return b
}

func valueInfo(name string, elem int32, dims ...any) []byte {
	var shape []byte
	for _, d := range dims {
		var db []byte
		switch v := d.(type) {
		case int:
			db = appendVarint(nil, 1, uint64(v))
		case string:
			db = appendString(nil, 2, v)
		}
		shape = appendBytes(shape, 1, db)
	}
	tt := appendVarint(nil, 1, uint64(elem))
	if dims != nil {
		tt = appendBytes(tt, 2, shape)
	}
	return appendBytes(appendString(nil, 1, name), 2, appendBytes(nil, 1, tt))
}

func tensorF(name string, dims []int64, data []float32) []byte {
	var b []byte
	for _, d := range dims {
		b = appendVarint(b, 1, uint64(d))
	}
	b = appendVarint(b, 2, dtFloat)
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	b = appendBytes(b, 9, raw)
	return appendString(b, 8, name)
}

func tensorI(name string, dims []int64, data []int64) []byte {
	var b []byte
	for _, d := range dims {
		b = appendVarint(b, 1, uint64(d))
	}
	b = appendVarint(b, 2, dtInt64)
	var p []byte
	for _, v := range data {
		p = protowire.AppendVarint(p, uint64(v))
	}
	b = appendBytes(b, 7, p)
	return appendString(b, 8, name)
}

// tensorRaw writes a tensor of any data type from raw bytes.
func tensorRaw(name string, dt int32, dims []int64, raw []byte) []byte {
	var b []byte
	for _, d := range dims {
		b = appendVarint(b, 1, uint64(d))
	}
	b = appendVarint(b, 2, uint64(dt))
	b = appendBytes(b, 9, raw)
	return appendString(b, 8, name)
}

func tensorExternal(name string, dims []int64, location string, offset, length int) []byte {
	var b []byte
	for _, d := range dims {
		b = appendVarint(b, 1, uint64(d))
	}
	b = appendVarint(b, 2, dtFloat)
	b = appendString(b, 8, name)
	kv := func(k, v string) []byte { return appendString(appendString(nil, 1, k), 2, v) }
	b = appendBytes(b, 13, kv("location", location))
	b = appendBytes(b, 13, kv("offset", strconv.Itoa(offset)))
	b = appendBytes(b, 13, kv("length", strconv.Itoa(length)))
	return appendVarint(b, 14, 1)
}

func aInt(name string, v int64) []byte {
	return appendVarint(appendVarint(appendString(nil, 1, name), 20, atInt), 3, uint64(v))
}

func aFloat(name string, v float32) []byte {
	b := appendVarint(appendString(nil, 1, name), 20, atFloat)
	b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, math.Float32bits(v))
}

func aInts(name string, v ...int64) []byte {
	b := appendVarint(appendString(nil, 1, name), 20, atInts)
	var p []byte
	for _, x := range v {
		p = protowire.AppendVarint(p, uint64(x))
	}
	return appendBytes(b, 8, p)
}

func aString(name, v string) []byte {
	return appendBytes(appendVarint(appendString(nil, 1, name), 20, atString), 4, []byte(v))
}

func aTensor(name string, t []byte) []byte {
	return appendBytes(appendVarint(appendString(nil, 1, name), 20, atTensor), 5, t)
}

func aGraph(name string) []byte {
	return appendBytes(appendVarint(appendString(nil, 1, name), 20, atGraph), 6, appendString(nil, 2, "body"))
}

func f16(v float32) uint16 {
	// Exact for the small test values used (no rounding needed).
	b := math.Float32bits(v)
	sign := uint16(b>>16) & 0x8000
	exp := int((b>>23)&0xff) - 127 + 15
	frac := uint16((b >> 13) & 0x3ff)
	if v == 0 {
		return sign
	}
	return sign | uint16(exp)<<10 | frac
}
