package snnrt

// ScatterAddLimit lets the external bundled benchmarks measure the limit.
var ScatterAddLimit = scatterAddLimit
