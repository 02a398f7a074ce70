package ci

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
)

// The JUnit XML subset that GitHub Actions reporters, GitLab and Jenkins all
// read: one suite per check run, one testcase per model × T.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Time       string          `xml:"time,attr"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes r as JUnit XML: one testsuite per model (its time is the
// model's evaluation time), one testcase "T=<T>" per gate, a <failure> whose
// message carries the numbers when the gate failed, an <error> when the
// evaluation did not run.
func WriteJUnit(w io.Writer, r *Report) error {
	out := junitSuites{Name: "snnconvert check", Failures: r.Failed, Errors: r.Errors, Tests: len(r.Cases)}
	for _, m := range r.Models {
		s := junitSuite{Name: "snnconvert check: " + m.Name, Time: strconv.FormatFloat(m.Seconds, 'f', 3, 64)}
		s.Properties = []junitProperty{
			{Name: "data", Value: m.Data},
			{Name: "tolerance_pp", Value: strconv.FormatFloat(r.TolerancePP, 'g', -1, 64)},
			{Name: "confidence", Value: strconv.FormatFloat(float64(r.Confidence), 'g', -1, 64)},
			{Name: "rule", Value: r.Rule},
		}
		if m.Result != nil {
			settings, err := json.Marshal(m.Result.Settings)
			if err != nil {
				return fmt.Errorf("junit: %w", err)
			}
			s.Properties = append(s.Properties,
				junitProperty{Name: "model_sha256", Value: m.Result.ModelSHA256},
				junitProperty{Name: "settings", Value: string(settings)},
				junitProperty{Name: "ann_accuracy", Value: pct(m.Result.ANNAccuracy)},
			)
		}
		for _, c := range r.Cases {
			if c.Model != m.Name {
				continue
			}
			jc := junitCase{Name: "T=" + strconv.Itoa(c.T), ClassName: "snnconvert.check." + m.Name, Time: "0"}
			switch c.Status {
			case StatusFail:
				jc.Failure = &junitProblem{Message: c.Message, Type: "AccuracyRegression", Text: c.Message}
				s.Failures++
			case StatusError:
				jc.Error = &junitProblem{Message: c.Message, Type: "EvaluationError", Text: c.Message}
				s.Errors++
			default:
				jc.SystemOut = c.Message
			}
			s.Tests++
			s.Cases = append(s.Cases, jc)
		}
		out.Suites = append(out.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}
