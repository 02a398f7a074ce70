package snnrt

// Energy per operation, 45 nm, 32-bit floating point (Horowitz, "Computing's
// energy problem", ISSCC 2014). An estimate of arithmetic only.
const (
	PicojoulesPerAC  = 0.9
	PicojoulesPerMAC = 4.6
)

// EnergyNote labels every figure EnergyEstimate produces.
const EnergyNote = "estimate: 0.9 pJ/AC, 4.6 pJ/MAC (45 nm fp32, Horowitz 2014); memory traffic not counted"

// EnergyEstimate returns the arithmetic energy in joules of acs accumulates
// and macs multiply-accumulates. Memory traffic, which often dominates on
// real hardware, is not counted.
func EnergyEstimate(acs, macs float64) (joules float64) {
	return (acs*PicojoulesPerAC + macs*PicojoulesPerMAC) * 1e-12
}
