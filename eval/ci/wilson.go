package ci

import (
	"fmt"
	"math"
)

// Confidence is a one-sided confidence level in (0.5, 1), e.g. 0.95.
type Confidence float64

// Validate rejects levels outside (0.5, 1): below 0.5 the "upper bound" would
// sit under the observed accuracy and the gate would fail on noise.
func (c Confidence) Validate() error {
	if math.IsNaN(float64(c)) || c <= 0.5 || c >= 1 {
		return fmt.Errorf("confidence %v: want a level in (0.5, 1), e.g. 0.95", float64(c))
	}
	return nil
}

// Z is the standard normal quantile Φ⁻¹(c): 1.6449 for 0.95, 1.9600 for 0.975.
func (c Confidence) Z() float64 {
	return math.Sqrt2 * math.Erfinv(2*float64(c)-1)
}

// WilsonUpper is the one-sided Wilson score upper bound on a binomial
// proportion: with k successes in n trials, the true proportion lies below
// the returned value with probability c. It is the larger root u of
// (k/n − u)² = z²·u(1−u)/n. Unlike the normal approximation it stays inside
// [0, 1] and does not collapse to a zero-width interval at k = n, which is
// what makes it usable for accuracies near 100 % on a few hundred images.
func WilsonUpper(k, n int, c Confidence) float64 {
	if n <= 0 {
		return 1
	}
	z := c.Z()
	nf := float64(n)
	p := float64(k) / nf
	z2 := z * z
	den := 1 + z2/nf
	centre := (p + z2/(2*nf)) / den
	half := z * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf)) / den
	return math.Min(1, centre+half)
}

// WilsonLower is the matching one-sided lower bound (reported, not gated).
func WilsonLower(k, n int, c Confidence) float64 {
	if n <= 0 {
		return 0
	}
	z := c.Z()
	nf := float64(n)
	p := float64(k) / nf
	z2 := z * z
	den := 1 + z2/nf
	centre := (p + z2/(2*nf)) / den
	half := z * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf)) / den
	return math.Max(0, centre-half)
}
