// Package npz reads and writes NumPy .npy arrays and .npz archives (a zip of
// .npy files), the exchange format of the reference outputs in the shared
// ONNX corpus and of `snnconvert infer`.
//
// In: bytes or files written by numpy.save / numpy.savez.
// Out: Arrays as float32 (any numeric dtype is converted; the original dtype is
// kept in Array.DType), or raw strings for unicode scalars.
package npz

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Array is one decoded array.
type Array struct {
	Shape []int
	DType string // numpy descr without byte order, e.g. "f4", "i8", "u1", "U57"
	Data  []float32
	// Str holds the value of a unicode ('U') array's first element.
	Str string
}

// maxElems bounds what a header may ask for, so a hostile header cannot make
// us allocate more than the file could possibly hold.
const maxElems = 1 << 30

var headerRE = regexp.MustCompile(`'descr':\s*'([<>|=]?)([a-zA-Z]+)(\d*)'.*'fortran_order':\s*(True|False).*'shape':\s*\(([^)]*)\)`)

// ParseNPY decodes one .npy file.
func ParseNPY(b []byte) (*Array, error) {
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" {
		return nil, fmt.Errorf("not a .npy file (bad magic)")
	}
	major := b[6]
	var hlen, off int
	switch major {
	case 1:
		hlen, off = int(binary.LittleEndian.Uint16(b[8:10])), 10
	case 2, 3:
		if len(b) < 12 {
			return nil, fmt.Errorf("truncated .npy header")
		}
		hlen, off = int(binary.LittleEndian.Uint32(b[8:12])), 12
	default:
		return nil, fmt.Errorf("unsupported .npy version %d", major)
	}
	if off+hlen > len(b) {
		return nil, fmt.Errorf("truncated .npy header")
	}
	m := headerRE.FindStringSubmatch(string(b[off : off+hlen]))
	if m == nil {
		return nil, fmt.Errorf("unparsable .npy header %q", string(b[off:off+hlen]))
	}
	order, kind, sizeStr, fortran, shapeStr := m[1], m[2], m[3], m[4], m[5]
	if fortran == "True" {
		return nil, fmt.Errorf(".npy arrays in Fortran order are not supported")
	}
	if order == ">" {
		return nil, fmt.Errorf("big-endian .npy arrays are not supported")
	}
	a := &Array{DType: kind + sizeStr}
	n := 1
	for _, f := range strings.Split(shapeStr, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		d, err := strconv.Atoi(f)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("bad .npy shape %q", shapeStr)
		}
		a.Shape = append(a.Shape, d)
		if d > 0 && n > maxElems/d {
			return nil, fmt.Errorf(".npy shape %v is too large", a.Shape)
		}
		n *= d
	}
	body := b[off+hlen:]
	size, _ := strconv.Atoi(sizeStr)
	if kind == "U" {
		if len(body) < 4*size {
			return nil, fmt.Errorf("truncated .npy unicode data")
		}
		var sb strings.Builder
		for i := 0; i < size; i++ {
			r := binary.LittleEndian.Uint32(body[4*i:])
			if r == 0 {
				break
			}
			sb.WriteRune(rune(r))
		}
		a.Str = sb.String()
		return a, nil
	}
	if kind == "b" && size == 0 {
		size = 1
	}
	if size == 0 || len(body) < n*size {
		return nil, fmt.Errorf(".npy data holds %d bytes, shape %v of %s needs %d", len(body), a.Shape, a.DType, n*size)
	}
	a.Data = make([]float32, n)
	for i := 0; i < n; i++ {
		p := body[i*size:]
		switch kind + sizeStr {
		case "f4":
			a.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(p))
		case "f8":
			a.Data[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(p)))
		case "i1":
			a.Data[i] = float32(int8(p[0]))
		case "u1", "b1", "b":
			a.Data[i] = float32(p[0])
		case "i2":
			a.Data[i] = float32(int16(binary.LittleEndian.Uint16(p)))
		case "u2":
			a.Data[i] = float32(binary.LittleEndian.Uint16(p))
		case "i4":
			a.Data[i] = float32(int32(binary.LittleEndian.Uint32(p)))
		case "u4":
			a.Data[i] = float32(binary.LittleEndian.Uint32(p))
		case "i8":
			a.Data[i] = float32(int64(binary.LittleEndian.Uint64(p)))
		case "u8":
			a.Data[i] = float32(binary.LittleEndian.Uint64(p))
		default:
			return nil, fmt.Errorf("unsupported .npy dtype %q", a.DType)
		}
	}
	return a, nil
}

// ReadNPYFile reads one .npy file.
func ReadNPYFile(path string) (*Array, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	a, err := ParseNPY(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// ReadFile reads every array of an .npz archive, keyed by name (without ".npy").
func ReadFile(path string) (map[string]*Array, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer zr.Close()
	out := map[string]*Array{}
	for _, f := range zr.File {
		if f.UncompressedSize64 > 4*maxElems {
			return nil, fmt.Errorf("%s: member %s is too large", path, f.Name)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, f.Name, err)
		}
		b, err := io.ReadAll(io.LimitReader(rc, int64(f.UncompressedSize64)+1))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, f.Name, err)
		}
		a, err := ParseNPY(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, f.Name, err)
		}
		out[strings.TrimSuffix(f.Name, ".npy")] = a
	}
	return out, nil
}

// EncodeNPY encodes a float32 array as a version-1 .npy file.
func EncodeNPY(shape []int, data []float32) []byte {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.Itoa(d)
	}
	sh := strings.Join(dims, ", ")
	if len(shape) == 1 {
		sh += ","
	}
	h := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", sh)
	// The header is padded with spaces and a newline to a multiple of 64 bytes.
	pad := 64 - (10+len(h)+1)%64
	if pad == 64 {
		pad = 0
	}
	h += strings.Repeat(" ", pad) + "\n"
	var buf bytes.Buffer
	buf.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&buf, binary.LittleEndian, uint16(len(h)))
	buf.WriteString(h)
	b := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	buf.Write(b)
	return buf.Bytes()
}

// WriteFile writes float32 arrays as an .npz archive atomically (temp file + rename).
func WriteFile(path string, arrays map[string]*Array) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".npz-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	zw := zip.NewWriter(tmp)
	names := make([]string, 0, len(arrays))
	for k := range arrays {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		w, err := zw.Create(k + ".npy")
		if err != nil {
			tmp.Close()
			return err
		}
		if _, err := w.Write(EncodeNPY(arrays[k].Shape, arrays[k].Data)); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := zw.Close(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
