package normalize

import (
	"fmt"
	"sort"

	"github.com/snnconvert/snnconvert/ann"
)

// MergeGroups returns, for every residual Add and Concat of g, the target
// values that reach it through ops that keep a value's scale (layout ops and
// max pooling); groups sharing a value are merged. Only groups of two or more
// are returned, each sorted.
func MergeGroups(g *ann.Graph, targets []string) [][]string {
	isTarget := map[string]bool{}
	for _, t := range targets {
		isTarget[t] = true
	}
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		if p, ok := parent[x]; ok && p != x {
			r := find(p)
			parent[x] = r
			return r
		}
		return x
	}
	source := sourceFunc(g, isTarget)
	for _, n := range g.Nodes {
		if n.Op != ann.OpAdd && n.Op != ann.OpConcat {
			continue
		}
		var members []string
		for _, in := range n.Inputs {
			if in == "" || g.IsParam(in) {
				continue
			}
			if s, ok := source(in); ok {
				members = append(members, s)
			}
		}
		for _, m := range members[min(1, len(members)):] {
			a, b := find(members[0]), find(m)
			if a != b {
				parent[b] = a
			}
			parent[a] = a
		}
		if len(members) > 0 {
			if _, ok := parent[members[0]]; !ok {
				parent[members[0]] = members[0]
			}
		}
	}
	byRoot := map[string][]string{}
	for v := range parent {
		r := find(v)
		byRoot[r] = append(byRoot[r], v)
	}
	var out [][]string
	for _, grp := range byRoot {
		if len(grp) < 2 {
			continue
		}
		sort.Strings(grp)
		out = append(out, grp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// Unify gives every value of each group one scale: the elementwise maximum
// when all members have the same number of channels, else the overall
// maximum. A larger scale only lowers rates, it never clips; clipped members
// (clip[v] > 0) whose clip value would be exceeded are reported.
func Unify(scales map[string][]float32, groups [][]string, clip map[string]float32) []string {
	var warnings []string
	for _, grp := range groups {
		width := -1
		for _, v := range grp {
			if width == -1 {
				width = len(scales[v])
			} else if len(scales[v]) != width {
				width = 0
			}
		}
		var u []float32
		if width > 0 {
			u = make([]float32, width)
			for _, v := range grp {
				for i, s := range scales[v] {
					u[i] = max(u[i], s)
				}
			}
		} else {
			var m float32
			for _, v := range grp {
				for _, s := range scales[v] {
					m = max(m, s)
				}
			}
			u = []float32{m}
		}
		for _, v := range grp {
			if c := clip[v]; c > 0 {
				for _, s := range u {
					if s > c {
						warnings = append(warnings, fmt.Sprintf("value %q is clipped at %g but shares scale %g with %v: the SNN no longer saturates at the clip value", v, c, s, grp))
						break
					}
				}
			}
			scales[v] = append([]float32(nil), u...)
		}
	}
	return warnings
}

// sourceFunc returns a function that follows a value back through ops that
// keep a value's scale (layout ops and max pooling) to a target.
func sourceFunc(g *ann.Graph, isTarget map[string]bool) func(string) (string, bool) {
	producer := map[string]*ann.Node{}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			producer[o] = n
		}
	}
	return func(v string) (string, bool) {
		for {
			if isTarget[v] {
				return v, true
			}
			n := producer[v]
			if n == nil {
				return "", false
			}
			switch n.Op {
			case ann.OpFlatten, ann.OpReshape, ann.OpTranspose, ann.OpMaxPool, ann.OpPad, ann.OpIdentity, ann.OpDropout:
				v = n.Inputs[0]
			default:
				return "", false
			}
		}
	}
}

// ResidualInputs returns the targets that reach a residual Add through
// scale-preserving ops, sorted. The runtime's Add weighs each input with one
// scale, so these values need a layer-wide scale even under per-channel
// normalisation.
func ResidualInputs(g *ann.Graph, targets []string) []string {
	isTarget := map[string]bool{}
	for _, t := range targets {
		isTarget[t] = true
	}
	source := sourceFunc(g, isTarget)
	seen := map[string]bool{}
	var out []string
	for _, n := range g.Nodes {
		if n.Op != ann.OpAdd {
			continue
		}
		for _, in := range n.Inputs {
			if in == "" || g.IsParam(in) {
				continue
			}
			if s, ok := source(in); ok && !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	return out
}

// LayerWide replaces each named value's per-channel scales by their maximum,
// so no channel's activations are clipped by the shared scale.
func LayerWide(scales map[string][]float32, values []string) {
	for _, v := range values {
		if s := scales[v]; len(s) > 1 {
			m := s[0]
			for _, x := range s[1:] {
				m = max(m, x)
			}
			scales[v] = []float32{m}
		}
	}
}
