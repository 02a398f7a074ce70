package batch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/snnconvert/snnconvert/eval"
	"github.com/snnconvert/snnconvert/eval/ci"
)

// Shard selects the entries whose index is Index mod Count.
type Shard struct {
	Index, Count int
}

// Validate rejects a shard that selects nothing or everything twice.
func (s Shard) Validate() error {
	if s.Count < 1 {
		return fmt.Errorf("shard count %d: must be at least 1", s.Count)
	}
	if s.Index < 0 || s.Index >= s.Count {
		return fmt.Errorf("shard index %d: want 0 ≤ index < count %d", s.Index, s.Count)
	}
	return nil
}

// Owns reports whether the shard runs entry index i.
func (s Shard) Owns(i int) bool { return i%s.Count == s.Index }

// Options adjust a batch run.
type Options struct {
	// Out is the output directory (created when missing).
	Out string
	// Jobs is how many entries run at once (< 1: one).
	Jobs int
	// Shard defaults to {0, 1}: everything.
	Shard Shard
	// Progress, when set, is called after each entry of this shard finishes
	// or is skipped, with the number done so far and the shard's total.
	Progress func(done, total int)
}

// Stored is the content of OUT/entries/<id>.json.
type Stored struct {
	Entry  Entry        `json:"entry"`
	Result *eval.Result `json:"result,omitempty"`
	// Error is why the evaluation failed; a failed entry is retried on rerun.
	Error string `json:"error,omitempty"`
}

// Done is true for a finished evaluation (one that a rerun skips).
func (s *Stored) Done() bool { return s.Error == "" && s.Result != nil }

// Stats count what a run did.
type Stats struct {
	// Total is the number of entries this shard owns.
	Total   int
	Skipped int
	Ran     int
	// Failed lists "model/setting: error" of entries whose evaluation failed.
	Failed []string
}

// Run evaluates the plan's entries that opt.Shard owns and stores each result
// as it finishes; entries already stored as done are skipped. Without
// sharding it then writes the summary. A failed evaluation is stored with its
// error (and retried next time); the run goes on with the others. Run returns
// an error only for what stops the run: an unwritable output directory or a
// cancelled ctx (entries finished by then are kept).
func Run(ctx context.Context, plan *Plan, opt Options, evaluate ci.Evaluator) (*Stats, error) {
	if opt.Shard.Count == 0 {
		opt.Shard = Shard{0, 1}
	}
	if err := opt.Shard.Validate(); err != nil {
		return nil, err
	}
	if opt.Out == "" {
		return nil, errors.New("no output directory")
	}
	if err := os.MkdirAll(filepath.Join(opt.Out, "entries"), 0o755); err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	if err := writeJSON(filepath.Join(opt.Out, "plan.json"), plan); err != nil {
		return nil, err
	}
	var todo []Entry
	st := &Stats{}
	for _, e := range plan.Entries {
		if !opt.Shard.Owns(e.Index) {
			continue
		}
		st.Total++
		if s, err := readStored(opt.Out, e.ID); err == nil && s.Done() {
			st.Skipped++
			continue
		}
		todo = append(todo, e)
	}
	done := st.Skipped
	if opt.Progress != nil {
		opt.Progress(done, st.Total)
	}

	jobs := max(opt.Jobs, 1)
	work := make(chan Entry)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for range min(jobs, max(len(todo), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range work {
				if ctx.Err() != nil {
					// The feeder's select may still hand over an entry after
					// the cancel; starting it would only waste the work.
					continue
				}
				s := runEntry(ctx, e, evaluate)
				if s.Error != "" && ctx.Err() != nil {
					// An evaluation cut short is not a result; leave it to the
					// rerun. One that finished before the cancel is kept.
					continue
				}
				err := writeJSON(entryPath(opt.Out, e.ID), s)
				mu.Lock()
				switch {
				case err != nil:
					if firstErr == nil {
						firstErr = err
					}
				case s.Error != "":
					st.Failed = append(st.Failed, fmt.Sprintf("%s/%s (%s): %s", e.Model, e.Setting, e.ID, s.Error))
					st.Ran++
				default:
					st.Ran++
				}
				done++
				if opt.Progress != nil {
					opt.Progress(done, st.Total)
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, e := range todo {
		mu.Lock()
		stop := firstErr != nil
		mu.Unlock()
		if stop {
			break
		}
		select {
		case work <- e:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	// Sorted so the list does not depend on which job finished first.
	sort.Strings(st.Failed)
	if firstErr != nil {
		return st, firstErr
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	if opt.Shard.Count == 1 {
		stored, err := Collect(opt.Out, plan)
		if err != nil {
			return st, err
		}
		if err := WriteSummary(opt.Out, plan, stored); err != nil {
			return st, err
		}
	}
	return st, nil
}

func runEntry(ctx context.Context, e Entry, evaluate ci.Evaluator) *Stored {
	s := &Stored{Entry: e}
	r, err := evaluate(ctx, eval.Options{
		Model: e.modelFile, Source: e.sourceFile, Data: e.Data, Ts: e.Ts,
		Settings: e.Settings, Batch: e.Batch, Reference: e.Reference,
	})
	if err == nil && r == nil {
		err = errors.New("evaluator returned no result")
	}
	if err != nil {
		s.Error = err.Error()
		return s
	}
	s.Result = r
	return s
}

func entryPath(out, id string) string { return filepath.Join(out, "entries", id+".json") }

func readStored(out, id string) (*Stored, error) {
	data, err := os.ReadFile(entryPath(out, id))
	if err != nil {
		return nil, err
	}
	var s Stored
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", entryPath(out, id), err)
	}
	if s.Entry.ID != id {
		return nil, fmt.Errorf("%s: holds entry %q", entryPath(out, id), s.Entry.ID)
	}
	return &s, nil
}

// Collect reads the stored result of every plan entry from dir, in plan
// order. Every entry must be there (done or failed); the error lists the
// missing ones.
func Collect(dir string, plan *Plan) ([]*Stored, error) {
	out := make([]*Stored, len(plan.Entries))
	var missing []string
	for i, e := range plan.Entries {
		s, err := readStored(dir, e.ID)
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s/%s (%s, index %d)", e.Model, e.Setting, e.ID, e.Index))
			continue
		}
		out[i] = s
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: %d of %d entries have no result: %s", dir, len(missing), len(plan.Entries), strings.Join(missing, ", "))
	}
	return out, nil
}

// ReadPlan reads DIR/plan.json.
func ReadPlan(dir string) (*Plan, error) {
	path := filepath.Join(dir, "plan.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p Plan
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if p.Version != PlanVersion {
		return nil, fmt.Errorf("%s: plan version %d, this snnconvert reads %d", path, p.Version, PlanVersion)
	}
	return &p, nil
}

// Merge combines the output directories of shard runs of one manifest into
// out: plan.json, every entry file, and the summary an unsharded run writes.
// The shards must come from the same plan and together cover every entry;
// an entry present in several directories is taken from the first that has
// it done.
func Merge(dirs []string, out string) (*Plan, error) {
	if len(dirs) == 0 {
		return nil, errors.New("merge: no directories")
	}
	var plan *Plan
	var planJSON []byte
	for _, d := range dirs {
		p, err := ReadPlan(d)
		if err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		b, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		if plan == nil {
			plan, planJSON = p, b
			continue
		}
		if string(b) != string(planJSON) {
			return nil, fmt.Errorf("merge: %s and %s were run from different manifests (their plan.json differ)", dirs[0], d)
		}
	}
	stored := make([]*Stored, len(plan.Entries))
	var missing []string
	for i, e := range plan.Entries {
		for _, d := range dirs {
			s, err := readStored(d, e.ID)
			if err != nil {
				continue
			}
			if stored[i] == nil || (!stored[i].Done() && s.Done()) {
				stored[i] = s
			}
		}
		if stored[i] == nil {
			missing = append(missing, fmt.Sprintf("%s/%s (%s, index %d)", e.Model, e.Setting, e.ID, e.Index))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("merge: %d of %d entries are in none of the directories (a shard did not finish?): %s", len(missing), len(plan.Entries), strings.Join(missing, ", "))
	}
	if err := os.MkdirAll(filepath.Join(out, "entries"), 0o755); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	if err := writeJSON(filepath.Join(out, "plan.json"), plan); err != nil {
		return nil, err
	}
	for _, s := range stored {
		if err := writeJSON(entryPath(out, s.Entry.ID), s); err != nil {
			return nil, err
		}
	}
	return plan, WriteSummary(out, plan, stored)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return ci.WriteFileAtomic(path, append(b, '\n'))
}
