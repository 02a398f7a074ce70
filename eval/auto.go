package eval

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/snnconvert/snnconvert/ann"
	"github.com/snnconvert/snnconvert/eval/dataset"
	"github.com/snnconvert/snnconvert/normalize"
)

// autoCandidate is one normalisation --auto tries.
type autoCandidate struct {
	norm       string
	percentile float64 // 0 for max
}

func (c autoCandidate) String() string {
	switch c.norm {
	case string(normalize.Max):
		return "max (per layer)"
	case string(normalize.Channel):
		return "per-channel " + strconv.FormatFloat(c.percentile, 'g', -1, 64) + "th percentile"
	}
	return "per-layer " + strconv.FormatFloat(c.percentile, 'g', -1, 64) + "th percentile"
}

// autoCandidates are tried in this order; on a tie the earlier one wins, so
// the tool's default (per-channel 99.99, DefaultNorm) comes first.
var autoCandidates = []autoCandidate{
	{"channel", 99.99}, {"channel", 99.9}, {"channel", 99.999}, {"channel", 99}, {"channel", 100},
	{"percentile", 99.99}, {"percentile", 99.9}, {"percentile", 99.999}, {"percentile", 99}, {"max", 0},
}

// autoMinSamples is the smallest calibration set --auto splits: fewer
// held-apart samples could not tell candidates apart.
const autoMinSamples = 20

type autoScore struct {
	cand autoCandidate
	// agree[i] is the number of held-apart samples on which the SNN agrees
	// with the ANN at checkpoint i (the last is the target T).
	agree []int
}

// better ranks by agreement at the target T, then by the summed agreement
// at the smaller checkpoints (the faster converging wins).
func (a autoScore) better(b autoScore) bool {
	last := len(a.agree) - 1
	if a.agree[last] != b.agree[last] {
		return a.agree[last] > b.agree[last]
	}
	sa, sb := 0, 0
	for i := 0; i < last; i++ {
		sa += a.agree[i]
		sb += b.agree[i]
	}
	return sa > sb
}

type autoChoice struct {
	norm       string
	percentile float64
	why        string
}

// autoCheckpoints are the powers of two below the target T, then the target.
func autoCheckpoints(target int) []int {
	var ts []int
	for t := 1; t < target; t *= 2 {
		ts = append(ts, t)
	}
	return append(ts, target)
}

// autoChoose converts the model with every candidate normalisation,
// calibrating on the first half of calib and scoring SNN-ANN agreement at the
// target T on the second half, which no candidate has seen.
func autoChoose(ctx context.Context, g *ann.Graph, calib *dataset.Set, s Settings, opt Options, prog Progress) (*autoChoice, error) {
	if calib.Len() < autoMinSamples {
		return nil, fmt.Errorf("calibration set %s has %d samples; --auto needs at least %d to hold half apart", calib.Name, calib.Len(), autoMinSamples)
	}
	half := calib.Len() / 2
	fit, held := calib.Slice(0, half), calib.Slice(half, calib.Len())
	annPred, err := annPredict(g, held, func(int) {})
	if err != nil {
		return nil, err
	}
	ts := autoCheckpoints(s.TargetT)
	prog.Stage("auto: trying "+strconv.Itoa(len(autoCandidates))+" normalisations", len(autoCandidates)*held.Len())
	defer prog.Done()
	scores := make([]autoScore, 0, len(autoCandidates))
	for _, c := range autoCandidates {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cs := s
		cs.Norm, cs.Percentile = c.norm, c.percentile
		conv, err := doConvert(g, convertOptions(cs, fit, opt.Model, "", s.TargetT))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c, err)
		}
		part := held
		if len(conv.inputPerm) > 0 {
			if part, err = permuteSet(held, conv.inputPerm); err != nil {
				return nil, err
			}
		}
		res, err := runSNN(conv.net, part, snnRunOptions{ts: ts, encoding: s.Encoding, seed: s.Seed, batch: opt.Batch, progress: prog.Add, ctx: ctx})
		if err != nil {
			return nil, fmt.Errorf("%s: SNN: %w", c, err)
		}
		sc := autoScore{cand: c, agree: make([]int, len(ts))}
		for i := range ts {
			for k, p := range res.preds[i] {
				if p == annPred[k] {
					sc.agree[i]++
				}
			}
		}
		scores = append(scores, sc)
	}
	best := 0
	for i := range scores {
		if scores[i].better(scores[best]) {
			best = i
		}
	}
	return &autoChoice{norm: scores[best].cand.norm, percentile: scores[best].cand.percentile,
		why: explainAuto(scores, ts, best, fit.Len(), held.Len())}, nil
}

// early is a score's mean agreement over the checkpoints before the target,
// the tie-breaker, as a fraction.
func (a autoScore) early(n int) float64 {
	last := len(a.agree) - 1
	if last == 0 || n == 0 {
		return 0
	}
	sum := 0
	for _, k := range a.agree[:last] {
		sum += k
	}
	return float64(sum) / float64(last*n)
}

// explainAuto says what won, by how much, and lists every candidate's score.
func explainAuto(scores []autoScore, ts []int, best, nFit, nHeld int) string {
	last := len(ts) - 1
	pctOf := func(x float64) string { return strconv.FormatFloat(100*x, 'f', 2, 64) + "%" }
	at := func(sc autoScore) string { return pctOf(float64(sc.agree[last]) / float64(nHeld)) }
	var b strings.Builder
	fmt.Fprintf(&b, "%s: highest SNN-ANN agreement at T=%d (%s) on %d held-apart calibration samples, calibrated on the other %d",
		scores[best].cand, ts[last], at(scores[best]), nHeld, nFit)
	ties := 0
	for i, sc := range scores {
		if i != best && sc.agree[last] == scores[best].agree[last] {
			ties++
		}
	}
	if ties > 0 && last > 0 {
		fmt.Fprintf(&b, "; %d other(s) tied there, broken by the mean agreement over T=%s (%s for the winner; a full tie goes to the earlier candidate)",
			ties, joinInts(ts[:last]), pctOf(scores[best].early(nHeld)))
	}
	b.WriteString(". Tried (agreement at the target / mean before it):")
	for i, sc := range scores {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, " %s %s/%s", sc.cand, at(sc), pctOf(sc.early(nHeld)))
	}
	b.WriteString(". The final network is calibrated on the whole calibration set.")
	return b.String()
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}
