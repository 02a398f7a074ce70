package ann

// gemmNT computes C[i,j] = Σ_k A[i,k]·B[j,k] (+ biasM[i]) (+ biasN[j]) for an
// M×K matrix A and an N×K matrix B, both with K contiguous, into C at
// C[i·csi + j·csj]. Both Dense (x·Wᵀ) and Conv (patches·Wᵀ, stored
// transposed so channels stay planar) reduce to this shape, so one kernel
// serves both.
//
// Every C element is summed in the same order (k = 0, 1, …, K-1 into a single
// float32 accumulator, bias added last) whichever tile computes it, so results
// do not depend on M, N, tiling or how a batch is split across workers.
func gemmNT(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, csi, csj int, biasM, biasN []float32) {
	// Blocking over B rows keeps a panel of B (nb rows × K) in L2 while
	// every row quad of A streams past it.
	const nb = 64
	for j0 := 0; j0 < n; j0 += nb {
		j1 := min(j0+nb, n)
		i := 0
		for ; i+4 <= m; i += 4 {
			a0 := a[i*lda : i*lda+k]
			a1 := a[(i+1)*lda : (i+1)*lda+k]
			a2 := a[(i+2)*lda : (i+2)*lda+k]
			a3 := a[(i+3)*lda : (i+3)*lda+k]
			j := j0
			for ; j+2 <= j1; j += 2 {
				b0 := b[j*ldb : j*ldb+k]
				b1 := b[(j+1)*ldb : (j+1)*ldb+k]
				b1 = b1[:len(b0)]
				a0, a1, a2, a3 := a0[:len(b0)], a1[:len(b0)], a2[:len(b0)], a3[:len(b0)]
				var c00, c01, c10, c11, c20, c21, c30, c31 float32
				for p := range b0 {
					x0, x1 := b0[p], b1[p]
					y0, y1, y2, y3 := a0[p], a1[p], a2[p], a3[p]
					c00 += y0 * x0
					c01 += y0 * x1
					c10 += y1 * x0
					c11 += y1 * x1
					c20 += y2 * x0
					c21 += y2 * x1
					c30 += y3 * x0
					c31 += y3 * x1
				}
				store(c, csi, csj, i, j, c00, biasM, biasN)
				store(c, csi, csj, i, j+1, c01, biasM, biasN)
				store(c, csi, csj, i+1, j, c10, biasM, biasN)
				store(c, csi, csj, i+1, j+1, c11, biasM, biasN)
				store(c, csi, csj, i+2, j, c20, biasM, biasN)
				store(c, csi, csj, i+2, j+1, c21, biasM, biasN)
				store(c, csi, csj, i+3, j, c30, biasM, biasN)
				store(c, csi, csj, i+3, j+1, c31, biasM, biasN)
			}
			for ; j < j1; j++ {
				b0 := b[j*ldb : j*ldb+k]
				a0, a1, a2, a3 := a0[:len(b0)], a1[:len(b0)], a2[:len(b0)], a3[:len(b0)]
				var c0, c1, c2, c3 float32
				for p, x := range b0 {
					c0 += a0[p] * x
					c1 += a1[p] * x
					c2 += a2[p] * x
					c3 += a3[p] * x
				}
				store(c, csi, csj, i, j, c0, biasM, biasN)
				store(c, csi, csj, i+1, j, c1, biasM, biasN)
				store(c, csi, csj, i+2, j, c2, biasM, biasN)
				store(c, csi, csj, i+3, j, c3, biasM, biasN)
			}
		}
		for ; i < m; i++ {
			a0 := a[i*lda : i*lda+k]
			j := j0
			for ; j+4 <= j1; j += 4 {
				b0 := b[j*ldb : j*ldb+k]
				b1 := b[(j+1)*ldb : (j+1)*ldb+k]
				b2 := b[(j+2)*ldb : (j+2)*ldb+k]
				b3 := b[(j+3)*ldb : (j+3)*ldb+k]
				b0, b1, b2, b3 = b0[:len(a0)], b1[:len(a0)], b2[:len(a0)], b3[:len(a0)]
				var c0, c1, c2, c3 float32
				for p, y := range a0 {
					c0 += y * b0[p]
					c1 += y * b1[p]
					c2 += y * b2[p]
					c3 += y * b3[p]
				}
				store(c, csi, csj, i, j, c0, biasM, biasN)
				store(c, csi, csj, i, j+1, c1, biasM, biasN)
				store(c, csi, csj, i, j+2, c2, biasM, biasN)
				store(c, csi, csj, i, j+3, c3, biasM, biasN)
			}
			for ; j < j1; j++ {
				b0 := b[j*ldb : j*ldb+k]
				b0 = b0[:len(a0)]
				var c0 float32
				for p, y := range a0 {
					c0 += y * b0[p]
				}
				store(c, csi, csj, i, j, c0, biasM, biasN)
			}
		}
	}
}

func store(c []float32, csi, csj, i, j int, v float32, biasM, biasN []float32) {
	if biasM != nil {
		v += biasM[i]
	}
	if biasN != nil {
		v += biasN[j]
	}
	c[i*csi+j*csj] = v
}
