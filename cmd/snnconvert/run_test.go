package main

import "testing"

// TestHumanNumbers: counts and rates keep three significant digits below
// 1,000 and take an SI suffix above it.
func TestHumanNumbers(t *testing.T) {
	for _, c := range []struct {
		v          float64
		human, dig string
	}{
		{0.4812, "0.48", "0.48"},
		{7, "7", "7"},
		{0, "0", "0"},
		{12.345, "12.3", "12.3"},
		{999.4, "999", "999"},
		{3441.2, "3.4k", "3441"},
		{6.26e9, "6.26G", "6260000000"},
		{2.2e6, "2.20M", "2200000"},
	} {
		if got := human(c.v); got != c.human {
			t.Errorf("human(%v) = %q, want %q", c.v, got, c.human)
		}
		if got := digits3(c.v); got != c.dig {
			t.Errorf("digits3(%v) = %q, want %q", c.v, got, c.dig)
		}
	}
}
