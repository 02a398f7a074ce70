package importer

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// constTensor is a value known at import time: an initializer, a Constant
// node's output, or the result of folding a constant subgraph. Values are
// held as float64, which represents every float32 and every integer a shape
// computation meets exactly.
type constTensor struct {
	shape []int
	data  []float64
	isInt bool
	// batch marks elements that stand for the batch size (produced by Shape on
	// an activation); nil when none do. Folding carries the mark through
	// index-moving ops (Gather, Slice, Concat, Cast, ...) so that a Reshape can
	// recognise its batch axis however the exporter computed it.
	batch []bool
}

func (c *constTensor) numel() int { return len(c.data) }

func (c *constTensor) hasBatch() bool {
	for _, b := range c.batch {
		if b {
			return true
		}
	}
	return false
}

// ints returns the values as ints, failing on non-integral values.
func (c *constTensor) ints() ([]int, error) {
	out := make([]int, len(c.data))
	for i, v := range c.data {
		if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
			return nil, fmt.Errorf("value %v is not an integer", v)
		}
		out[i] = int(v)
	}
	return out, nil
}

func (c *constTensor) float32s() []float32 {
	out := make([]float32, len(c.data))
	for i, v := range c.data {
		out[i] = float32(v)
	}
	return out
}

// readExternal loads the bytes of an external-data tensor. The location is
// resolved relative to baseDir and refused when it leaves that directory.
func readExternal(t *wTensor, baseDir string, want int64) ([]byte, error) {
	loc, ok := t.External["location"]
	if !ok || loc == "" {
		return nil, fmt.Errorf("external data without a location")
	}
	if baseDir == "" {
		return nil, fmt.Errorf("external data file %q: the model was given as bytes without a base directory", loc)
	}
	if filepath.IsAbs(loc) || strings.Contains(loc, "\x00") {
		return nil, fmt.Errorf("external data location %q must be a relative path", loc)
	}
	base, err := filepath.Abs(baseDir)
	if err != nil {
		return nil, err
	}
	if r, err := filepath.EvalSymlinks(base); err == nil {
		base = r
	}
	path := filepath.Join(base, filepath.FromSlash(loc))
	if r, err := filepath.EvalSymlinks(path); err == nil {
		path = r
	}
	rel, err := filepath.Rel(base, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("external data location %q escapes the model directory %s", loc, base)
	}
	var off, length int64 = 0, -1
	if s, ok := t.External["offset"]; ok {
		if off, err = strconv.ParseInt(s, 10, 64); err != nil || off < 0 {
			return nil, fmt.Errorf("external data %q: bad offset %q", loc, s)
		}
	}
	if s, ok := t.External["length"]; ok {
		if length, err = strconv.ParseInt(s, 10, 64); err != nil || length < 0 {
			return nil, fmt.Errorf("external data %q: bad length %q", loc, s)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("external data: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("external data: %w", err)
	}
	if length < 0 {
		length = st.Size() - off
	}
	if off > st.Size() || length > st.Size()-off {
		return nil, fmt.Errorf("external data %q: offset %d + length %d past the end of the %d-byte file", loc, off, length, st.Size())
	}
	if length > want {
		// Refused before reading, so that a model cannot make the importer
		// load an arbitrarily large file next to it.
		return nil, fmt.Errorf("shape %v of %s needs %d bytes of raw data, found %d in %q", t.Dims, dtypeName(t.DataType), want, length, loc)
	}
	buf := make([]byte, length)
	if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
		return nil, fmt.Errorf("external data %q: %w", loc, err)
	}
	return buf, nil
}

// decodeTensor turns a wire tensor of any supported numeric type into a
// constTensor, checking that the declared shape matches the stored data and
// that no element is NaN.
func decodeTensor(t *wTensor, baseDir string) (*constTensor, error) {
	c, err := decodeValues(t, baseDir)
	if err != nil {
		return nil, err
	}
	if err := checkNaN(c); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeValues is decodeTensor without the NaN check.
func decodeValues(t *wTensor, baseDir string) (*constTensor, error) {
	if t.Segment {
		return nil, fmt.Errorf("segmented tensors are not supported")
	}
	n, err := t.numel()
	if err != nil {
		return nil, err
	}
	es := elemSize(t.DataType)
	if es == 0 {
		return nil, fmt.Errorf("data type %s is not supported", dtypeName(t.DataType))
	}
	raw, hasRaw := t.Raw, t.HasRaw
	if t.Location == 1 || t.External != nil {
		if raw, err = readExternal(t, baseDir, int64(n*es)); err != nil {
			return nil, err
		}
		hasRaw = true
	}
	c := &constTensor{shape: make([]int, len(t.Dims)), data: make([]float64, 0, min(n, maxPrealloc))}
	for i, d := range t.Dims {
		c.shape[i] = int(d)
	}
	switch t.DataType {
	case dtUint8, dtInt8, dtUint16, dtInt16, dtInt32, dtInt64, dtUint32, dtUint64, dtBool:
		c.isInt = true
	}
	if hasRaw {
		if len(raw) != n*es {
			return nil, fmt.Errorf("shape %v of %s needs %d bytes of raw data, found %d", t.Dims, dtypeName(t.DataType), n*es, len(raw))
		}
		for i := 0; i < n; i++ {
			c.data = append(c.data, rawElem(raw[i*es:(i+1)*es], t.DataType))
		}
		return c, nil
	}
	var have int
	switch t.DataType {
	case dtFloat:
		have = len(t.Floats)
		if have == n {
			for _, v := range t.Floats {
				c.data = append(c.data, float64(v))
			}
		}
	case dtDouble:
		have = len(t.Doubles)
		if have == n {
			c.data = append(c.data, t.Doubles...)
		}
	case dtInt64:
		have = len(t.Int64s)
		if have == n {
			for _, v := range t.Int64s {
				c.data = append(c.data, float64(v))
			}
		}
	case dtUint32, dtUint64:
		have = len(t.Uint64s)
		if have == n {
			for _, v := range t.Uint64s {
				c.data = append(c.data, float64(v))
			}
		}
	default: // types stored in int32_data
		have = len(t.Int32s)
		if have == n {
			for _, v := range t.Int32s {
				var b [4]byte
				binary.LittleEndian.PutUint32(b[:], uint32(v))
				switch t.DataType {
				case dtFloat16, dtBfloat16:
					c.data = append(c.data, rawElem(b[:2], t.DataType))
				default:
					c.data = append(c.data, float64(v))
				}
			}
		}
	}
	if have != n {
		if have == 0 && n > 0 {
			return nil, fmt.Errorf("shape %v declares %d elements but the tensor stores no data", t.Dims, n)
		}
		return nil, fmt.Errorf("shape %v declares %d elements but the tensor stores %d", t.Dims, n, have)
	}
	return c, nil
}

// maxPrealloc bounds capacity reserved before the data is known to exist.
const maxPrealloc = 1 << 16

func rawElem(b []byte, dt int32) float64 {
	switch dt {
	case dtFloat:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
	case dtDouble:
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	case dtFloat16:
		return float64(halfToFloat(binary.LittleEndian.Uint16(b)))
	case dtBfloat16:
		return float64(math.Float32frombits(uint32(binary.LittleEndian.Uint16(b)) << 16))
	case dtUint8, dtBool:
		return float64(b[0])
	case dtInt8:
		return float64(int8(b[0]))
	case dtUint16:
		return float64(binary.LittleEndian.Uint16(b))
	case dtInt16:
		return float64(int16(binary.LittleEndian.Uint16(b)))
	case dtInt32:
		return float64(int32(binary.LittleEndian.Uint32(b)))
	case dtUint32:
		return float64(binary.LittleEndian.Uint32(b))
	case dtInt64:
		return float64(int64(binary.LittleEndian.Uint64(b)))
	case dtUint64:
		return float64(binary.LittleEndian.Uint64(b))
	}
	return math.NaN()
}

// halfToFloat converts IEEE 754 binary16 bits to float32.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf, NaN
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	case exp == 0:
		if frac == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal: value = frac * 2^-24.
		v := float32(frac) * float32(1.0/16777216.0)
		if sign != 0 {
			return -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
}
