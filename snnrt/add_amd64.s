#include "textflag.h"

// tailMask<>+4(8-k) is the mask of the first k of 8 lanes: the run kernels'
// rows of n floats end in a block of n%8 done with masked loads and stores.
DATA tailMask<>+0(SB)/4, $0xffffffff
DATA tailMask<>+4(SB)/4, $0xffffffff
DATA tailMask<>+8(SB)/4, $0xffffffff
DATA tailMask<>+12(SB)/4, $0xffffffff
DATA tailMask<>+16(SB)/4, $0xffffffff
DATA tailMask<>+20(SB)/4, $0xffffffff
DATA tailMask<>+24(SB)/4, $0xffffffff
DATA tailMask<>+28(SB)/4, $0xffffffff
DATA tailMask<>+32(SB)/4, $0
DATA tailMask<>+36(SB)/4, $0
DATA tailMask<>+40(SB)/4, $0
DATA tailMask<>+44(SB)/4, $0
DATA tailMask<>+48(SB)/4, $0
DATA tailMask<>+52(SB)/4, $0
DATA tailMask<>+56(SB)/4, $0
DATA tailMask<>+60(SB)/4, $0
GLOBL tailMask<>(SB), RODATA|NOPTR, $64

// TAILMASK sets Y15 to the mask of the first CX (1 to 7) lanes; it uses AX
// and DX.
#define TAILMASK \
	MOVQ $8, AX; \
	SUBQ CX, AX; \
	LEAQ tailMask<>(SB), DX; \
	VMOVDQU (DX)(AX*4), Y15

// ROWPTRS points DI at dst[rows[2r]:] and SI at w[rows[2r+1]:] for the row
// pair at R12, in the run kernels (both take dst and w first); it uses AX.
#define ROWPTRS \
	MOVQ dst_base+0(FP), DI; \
	MOVLQSX (R12), AX; \
	LEAQ (DI)(AX*4), DI; \
	MOVQ w_base+24(FP), SI; \
	MOVLQSX 4(R12), AX; \
	LEAQ (SI)(AX*4), SI

// func addToAVX2(dst, src []float32)
// dst[i] += src[i] for i < len(src); len(dst) >= len(src) is checked by the caller.
TEXT ·addToAVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
loop32:
	CMPQ CX, $32
	JL   loop8
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VADDPS  (DI), Y0, Y0
	VADDPS  32(DI), Y1, Y1
	VADDPS  64(DI), Y2, Y2
	VADDPS  96(DI), Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP  loop32
loop8:
	CMPQ CX, $8
	JL   tail
	VMOVUPS (SI), Y0
	VADDPS  (DI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  loop8
tail:
	// Scalar ops in VEX form: a legacy SSE instruction while the upper
	// halves of the Y registers are live cost ~130 ns per call here (a
	// 30-float addScaled: 138 ns with MOVSS/ADDSS, 15 ns with VMOVSS/VADDSS).
	TESTQ CX, CX
	JE    done
	VMOVSS (SI), X0
	VADDSS (DI), X0, X0
	VMOVSS X0, (DI)
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP  tail
done:
	VZEROUPPER
	RET

// func addScaledAVX2(dst, src []float32, v float32)
// dst[i] += v*src[i], multiply then add (no FMA), as the Go fallback rounds.
TEXT ·addScaledAVX2(SB), NOSPLIT, $0-52
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	VBROADCASTSS v+48(FP), Y7
loop16:
	CMPQ CX, $16
	JL   loop8s
	VMULPS  (SI), Y7, Y0
	VMULPS  32(SI), Y7, Y1
	VADDPS  (DI), Y0, Y0
	VADDPS  32(DI), Y1, Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  loop16
loop8s:
	CMPQ CX, $8
	JL   tails
	VMULPS  (SI), Y7, Y0
	VADDPS  (DI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  loop8s
tails:
	TESTQ CX, CX
	JE    dones
	VMOVSS (SI), X0
	VMULSS X7, X0, X0
	VADDSS (DI), X0, X0
	VMOVSS X0, (DI)
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP  tails
dones:
	VZEROUPPER
	RET

// func ifFireAVX2(v, cur, th, data []float32, act []int32, zero bool) int
// One IF step over len(v) (a multiple of 8) neurons, as ifOp.step does it
// element by element: x = v + cur (cur may be empty: no constant current);
// spike where x >= θ; subtract reset x -= θ, or zero reset x = 0; v = x.
// cur and th share one period: element i uses cur[i mod len(th)] and
// th[i mod len(th)] (a multiple of 8), so a per-channel threshold or bias
// costs a few cache lines, not a full-size array. Each spiking neuron i gets
// data[i] = 1 and its index appended to act (ascending); returns how many.
TEXT ·ifFireAVX2(SB), NOSPLIT, $0-136
	MOVQ v_base+0(FP), DI
	MOVQ v_len+8(FP), CX
	MOVQ cur_base+24(FP), SI
	MOVQ cur_len+32(FP), R11
	MOVQ th_base+48(FP), DX
	MOVQ th_len+56(FP), R13
	SHLQ $2, R13
	MOVQ data_base+72(FP), R8
	MOVQ act_base+96(FP), R14
	MOVBQZX zero+120(FP), R9
	XORQ R10, R10
	XORQ BX, BX
	TESTQ R11, R11
	JE   fnocur

fcloop:
	CMPQ CX, $8
	JL   fdone
	VMOVUPS (DI), Y0
	VADDPS (SI)(R10*1), Y0, Y0
	VMOVUPS (DX)(R10*1), Y1
	ADDQ $32, R10
	CMPQ R10, R13
	JL   fcth
	XORQ R10, R10
fcth:
	VCMPPS $0x1D, Y1, Y0, Y2
	VMOVMSKPS Y2, AX
	TESTQ AX, AX
	JNE  fcfire
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $8, BX
	SUBQ $8, CX
	JMP  fcloop
fcfire:
	TESTQ R9, R9
	JNE  fczero
	VANDPS Y2, Y1, Y3
	VSUBPS Y3, Y0, Y0
	JMP  fcstore
fczero:
	VANDNPS Y0, Y2, Y0
fcstore:
	VMOVUPS Y0, (DI)
fcbit:
	BSFQ AX, R11
	ADDQ BX, R11
	MOVL R11, (R14)
	ADDQ $4, R14
	MOVL $0x3f800000, (R8)(R11*4)
	LEAQ -1(AX), R12
	ANDQ R12, AX
	JNE  fcbit
	ADDQ $32, DI
	ADDQ $8, BX
	SUBQ $8, CX
	JMP  fcloop

fnocur:
	CMPQ CX, $8
	JL   fdone
	VMOVUPS (DI), Y0
	VMOVUPS (DX)(R10*1), Y1
	ADDQ $32, R10
	CMPQ R10, R13
	JL   fnth
	XORQ R10, R10
fnth:
	VCMPPS $0x1D, Y1, Y0, Y2
	VMOVMSKPS Y2, AX
	TESTQ AX, AX
	JNE  fnfire
	ADDQ $32, DI
	ADDQ $8, BX
	SUBQ $8, CX
	JMP  fnocur
fnfire:
	TESTQ R9, R9
	JNE  fnzero
	VANDPS Y2, Y1, Y3
	VSUBPS Y3, Y0, Y0
	JMP  fnstore
fnzero:
	VANDNPS Y0, Y2, Y0
fnstore:
	VMOVUPS Y0, (DI)
fnbit:
	BSFQ AX, R11
	ADDQ BX, R11
	MOVL R11, (R14)
	ADDQ $4, R14
	MOVL $0x3f800000, (R8)(R11*4)
	LEAQ -1(AX), R12
	ANDQ R12, AX
	JNE  fnbit
	ADDQ $32, DI
	ADDQ $8, BX
	SUBQ $8, CX
	JMP  fnocur

fdone:
	MOVQ act_base+96(FP), AX
	SUBQ AX, R14
	SHRQ $2, R14
	MOVQ R14, ret+128(FP)
	VZEROUPPER
	RET

// func ifPackAVX2(v, cur, th []float32, act, pack []int32, zero bool) int
// ifFireAVX2 for spikes that need no data array, without a data-dependent
// branch: each block's spike mask selects a row of pack (the positions of
// its set bits, in order), which plus the block's first index is stored as
// 8 indices at the end of act; the end then moves by the mask's popcount.
// act needs 8 entries of room beyond the last spike.
TEXT ·ifPackAVX2(SB), NOSPLIT, $0-136
	MOVQ v_base+0(FP), DI
	MOVQ v_len+8(FP), CX
	MOVQ cur_base+24(FP), SI
	MOVQ cur_len+32(FP), R11
	TESTQ R11, R11
	JNE  phascur
	XORQ SI, SI
phascur:
	MOVQ th_base+48(FP), DX
	MOVQ th_len+56(FP), R13
	SHLQ $2, R13
	MOVQ act_base+72(FP), R14
	MOVQ pack_base+96(FP), R8
	MOVBQZX zero+120(FP), R9
	XORQ R10, R10
	VPXOR Y5, Y5, Y5
	MOVL $8, AX
	VMOVQ AX, X6
	VPBROADCASTD X6, Y6
ploop:
	CMPQ CX, $8
	JL   pdone
	VMOVUPS (DI), Y0
	TESTQ SI, SI
	JE   pnocur
	VADDPS (SI)(R10*1), Y0, Y0
pnocur:
	VMOVUPS (DX)(R10*1), Y1
	ADDQ $32, R10
	CMPQ R10, R13
	JL   pthok
	XORQ R10, R10
pthok:
	VCMPPS $0x1D, Y1, Y0, Y2
	VMOVMSKPS Y2, AX
	TESTQ R9, R9
	JNE  pzero
	VANDPS Y2, Y1, Y3
	VSUBPS Y3, Y0, Y0
	JMP  pstore
pzero:
	VANDNPS Y0, Y2, Y0
pstore:
	VMOVUPS Y0, (DI)
	POPCNTQ AX, R11
	SHLQ $5, AX
	VMOVDQU (R8)(AX*1), Y4
	VPADDD Y5, Y4, Y4
	VMOVDQU Y4, (R14)
	LEAQ (R14)(R11*4), R14
	VPADDD Y6, Y5, Y5
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  ploop
pdone:
	MOVQ act_base+72(FP), AX
	SUBQ AX, R14
	SHRQ $2, R14
	MOVQ R14, ret+128(FP)
	VZEROUPPER
	RET

// func addRunsAVX2(dst, w []float32, rows, offs, runs []int32)
// runs holds 5 int32 per run: n, r0, r1, o0, o1. For every run, every pair
// r of rows[r0:r1] and i < n (any n: a row's last n%8 elements take masked
// loads and stores, see tailMask), with d = dst[rows[2r]:] and
// u = w[rows[2r+1]:]: d[i] = (d[i] + u[offs[o0]+i]) + u[offs[o0+1]+i] + …,
// added in the order of offs[o0:o1], so each element sees exactly the
// additions of one addTo per offset, run after run. The dst block stays in
// registers while every row is added: one load and one store per element,
// not one per row. One run covers all the output rows one run of conv events
// at one pixel reaches; one call covers all the runs of a step.
TEXT ·addRunsAVX2(SB), NOSPLIT, $0-120
	MOVQ runs_base+96(FP), R10
	MOVQ runs_len+104(FP), R11
mrun:
	CMPQ R11, $5
	JL   mend
	MOVLQSX (R10), R14
	MOVLQSX 4(R10), AX
	MOVQ rows_base+48(FP), R12
	LEAQ (R12)(AX*4), R12
	MOVLQSX 8(R10), R13
	SUBQ AX, R13
	SHRQ $1, R13
	MOVLQSX 12(R10), AX
	MOVQ offs_base+72(FP), R8
	LEAQ (R8)(AX*4), R8
	MOVLQSX 16(R10), R9
	SUBQ AX, R9
	CMPQ R9, $1
	JE   m1
mrow:
	TESTQ R13, R13
	JE   mrundone
	ROWPTRS
	MOVQ R14, CX
mrblk64:
	CMPQ CX, $64
	JL   mrblk32
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VMOVUPS 128(DI), Y4
	VMOVUPS 160(DI), Y5
	VMOVUPS 192(DI), Y6
	VMOVUPS 224(DI), Y7
	XORQ BX, BX
mrin64:
	CMPQ BX, R9
	JGE  mrout64
	MOVLQSX (R8)(BX*4), AX
	LEAQ (SI)(AX*4), DX
	VADDPS (DX), Y0, Y0
	VADDPS 32(DX), Y1, Y1
	VADDPS 64(DX), Y2, Y2
	VADDPS 96(DX), Y3, Y3
	VADDPS 128(DX), Y4, Y4
	VADDPS 160(DX), Y5, Y5
	VADDPS 192(DX), Y6, Y6
	VADDPS 224(DX), Y7, Y7
	INCQ BX
	JMP  mrin64
mrout64:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VMOVUPS Y4, 128(DI)
	VMOVUPS Y5, 160(DI)
	VMOVUPS Y6, 192(DI)
	VMOVUPS Y7, 224(DI)
	ADDQ $256, DI
	ADDQ $256, SI
	SUBQ $64, CX
	JMP  mrblk64
mrblk32:
	CMPQ CX, $32
	JL   mrblk8
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	XORQ BX, BX
mrin32:
	CMPQ BX, R9
	JGE  mrout32
	MOVLQSX (R8)(BX*4), AX
	LEAQ (SI)(AX*4), DX
	VADDPS (DX), Y0, Y0
	VADDPS 32(DX), Y1, Y1
	VADDPS 64(DX), Y2, Y2
	VADDPS 96(DX), Y3, Y3
	INCQ BX
	JMP  mrin32
mrout32:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, DI
	ADDQ $128, SI
	SUBQ $32, CX
	JMP  mrblk32
mrblk8:
	CMPQ CX, $8
	JL   mrtail
	VMOVUPS (DI), Y0
	XORQ BX, BX
mrin8:
	CMPQ BX, R9
	JGE  mrout8
	MOVLQSX (R8)(BX*4), AX
	VADDPS (SI)(AX*4), Y0, Y0
	INCQ BX
	JMP  mrin8
mrout8:
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	SUBQ $8, CX
	JMP  mrblk8
mrtail:
	TESTQ CX, CX
	JE   mrdone
	TAILMASK
	VMASKMOVPS (DI), Y15, Y0
	XORQ BX, BX
mrint:
	CMPQ BX, R9
	JGE  mrouttail
	MOVLQSX (R8)(BX*4), AX
	VMASKMOVPS (SI)(AX*4), Y15, Y1
	VADDPS Y1, Y0, Y0
	INCQ BX
	JMP  mrint
mrouttail:
	VMASKMOVPS Y0, Y15, (DI)
mrdone:
	ADDQ $8, R12
	DECQ R13
	JMP  mrow
	// A run of one event (the usual one in sparse layers, and every one of
	// a one-channel input) adds its row straight in, without the loop over
	// events: the same d[i] + u[i] (a float addition commutes bit for bit).
	// 6-7 % less CPU on resnet_small, and on lenet5 under rate input.
m1:
	MOVLQSX (R8), BX
	SHLQ $2, BX
m1row:
	TESTQ R13, R13
	JE   mrundone
	ROWPTRS
	ADDQ BX, SI
	MOVQ R14, CX
m1blk32:
	CMPQ CX, $32
	JL   m1blk8
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VADDPS (SI), Y0, Y0
	VADDPS 32(SI), Y1, Y1
	VADDPS 64(SI), Y2, Y2
	VADDPS 96(SI), Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, DI
	ADDQ $128, SI
	SUBQ $32, CX
	JMP  m1blk32
m1blk8:
	CMPQ CX, $8
	JL   m1tail
	VMOVUPS (DI), Y0
	VADDPS (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	SUBQ $8, CX
	JMP  m1blk8
m1tail:
	TESTQ CX, CX
	JE   m1done
	TAILMASK
	VMASKMOVPS (DI), Y15, Y0
	VMASKMOVPS (SI), Y15, Y1
	VADDPS Y1, Y0, Y0
	VMASKMOVPS Y0, Y15, (DI)
m1done:
	ADDQ $8, R12
	DECQ R13
	JMP  m1row
mrundone:
	ADDQ $20, R10
	SUBQ $5, R11
	JMP  mrun
mend:
	VZEROUPPER
	RET

// func addRunsScaledAVX2(dst, w []float32, rows, offs []int32, vals []float32, runs []int32)
// addRunsAVX2 with the row of offset j scaled by vals[j]: multiply, then add
// (no FMA), as addScaled rounds.
TEXT ·addRunsScaledAVX2(SB), NOSPLIT, $0-144
	MOVQ runs_base+120(FP), R15
	MOVQ runs_len+128(FP), R11
nrun:
	CMPQ R11, $5
	JL   nend
	MOVLQSX (R15), R14
	MOVLQSX 4(R15), AX
	MOVQ rows_base+48(FP), R12
	LEAQ (R12)(AX*4), R12
	MOVLQSX 8(R15), R13
	SUBQ AX, R13
	SHRQ $1, R13
	MOVLQSX 12(R15), AX
	MOVQ offs_base+72(FP), R8
	LEAQ (R8)(AX*4), R8
	MOVQ vals_base+96(FP), R10
	LEAQ (R10)(AX*4), R10
	MOVLQSX 16(R15), R9
	SUBQ AX, R9
	CMPQ R9, $1
	JE   n1
nrow:
	TESTQ R13, R13
	JE   nrundone
	ROWPTRS
	MOVQ R14, CX
nsblk32:
	CMPQ CX, $32
	JL   nsblk8
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	XORQ BX, BX
nsin32:
	CMPQ BX, R9
	JGE  nsout32
	MOVLQSX (R8)(BX*4), AX
	LEAQ (SI)(AX*4), DX
	VBROADCASTSS (R10)(BX*4), Y8
	VMULPS (DX), Y8, Y4
	VMULPS 32(DX), Y8, Y5
	VMULPS 64(DX), Y8, Y6
	VMULPS 96(DX), Y8, Y7
	VADDPS Y4, Y0, Y0
	VADDPS Y5, Y1, Y1
	VADDPS Y6, Y2, Y2
	VADDPS Y7, Y3, Y3
	INCQ BX
	JMP  nsin32
nsout32:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, DI
	ADDQ $128, SI
	SUBQ $32, CX
	JMP  nsblk32
nsblk8:
	CMPQ CX, $8
	JL   nstail
	VMOVUPS (DI), Y0
	XORQ BX, BX
nsin8:
	CMPQ BX, R9
	JGE  nsout8
	MOVLQSX (R8)(BX*4), AX
	VBROADCASTSS (R10)(BX*4), Y8
	VMULPS (SI)(AX*4), Y8, Y4
	VADDPS Y4, Y0, Y0
	INCQ BX
	JMP  nsin8
nsout8:
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	SUBQ $8, CX
	JMP  nsblk8
nstail:
	TESTQ CX, CX
	JE   nsdone
	TAILMASK
	VMASKMOVPS (DI), Y15, Y0
	XORQ BX, BX
nsint:
	CMPQ BX, R9
	JGE  nsouttail
	MOVLQSX (R8)(BX*4), AX
	VBROADCASTSS (R10)(BX*4), Y8
	VMASKMOVPS (SI)(AX*4), Y15, Y4
	VMULPS Y4, Y8, Y4
	VADDPS Y4, Y0, Y0
	INCQ BX
	JMP  nsint
nsouttail:
	VMASKMOVPS Y0, Y15, (DI)
nsdone:
	ADDQ $8, R12
	DECQ R13
	JMP  nrow
	// One event: its row times its value, added straight in.
n1:
	MOVLQSX (R8), BX
	SHLQ $2, BX
	VBROADCASTSS (R10), Y8
n1row:
	TESTQ R13, R13
	JE   nrundone
	ROWPTRS
	ADDQ BX, SI
	MOVQ R14, CX
n1blk32:
	CMPQ CX, $32
	JL   n1blk8
	VMULPS (SI), Y8, Y4
	VMULPS 32(SI), Y8, Y5
	VMULPS 64(SI), Y8, Y6
	VMULPS 96(SI), Y8, Y7
	VADDPS (DI), Y4, Y4
	VADDPS 32(DI), Y5, Y5
	VADDPS 64(DI), Y6, Y6
	VADDPS 96(DI), Y7, Y7
	VMOVUPS Y4, (DI)
	VMOVUPS Y5, 32(DI)
	VMOVUPS Y6, 64(DI)
	VMOVUPS Y7, 96(DI)
	ADDQ $128, DI
	ADDQ $128, SI
	SUBQ $32, CX
	JMP  n1blk32
n1blk8:
	CMPQ CX, $8
	JL   n1tail
	VMULPS (SI), Y8, Y4
	VADDPS (DI), Y4, Y4
	VMOVUPS Y4, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	SUBQ $8, CX
	JMP  n1blk8
n1tail:
	TESTQ CX, CX
	JE   n1done
	TAILMASK
	VMASKMOVPS (DI), Y15, Y0
	VMASKMOVPS (SI), Y15, Y4
	VMULPS Y4, Y8, Y4
	VADDPS Y4, Y0, Y0
	VMASKMOVPS Y0, Y15, (DI)
n1done:
	ADDQ $8, R12
	DECQ R13
	JMP  n1row
nrundone:
	ADDQ $20, R15
	SUBQ $5, R11
	JMP  nrun
nend:
	VZEROUPPER
	RET

// func liveAVX2(cur, v0, th []float32, live []int32, cv, ccur, cth []float32, pack []int32, horizon float64) int
// For the first len(cur)&^7 neurons: keeps neuron i when canFire (the Go
// rule, same operations in float64, no FMA) holds for cur[i], v0[i], th[i]
// and horizon, appending i, v0[i], cur[i] and th[i] to live, cv, ccur and
// cth without a data-dependent branch: the block's keep mask selects a row
// of pack (the positions of its set bits, in order), which permutes the kept
// lanes to the front of 8 entries stored at the end of each output; the end
// then moves by the mask's popcount. Every output needs 8 entries of room
// beyond the last one kept. Returns how many it kept.
TEXT ·liveAVX2(SB), NOSPLIT, $0-208
	MOVQ cur_base+0(FP), SI
	MOVQ cur_len+8(FP), CX
	MOVQ v0_base+24(FP), R8
	MOVQ th_base+48(FP), R9
	MOVQ live_base+72(FP), R10
	MOVQ cv_base+96(FP), R11
	MOVQ ccur_base+120(FP), R12
	MOVQ cth_base+144(FP), R13
	MOVQ pack_base+168(FP), R14
	VBROADCASTSD horizon+192(FP), Y15
	MOVQ $0x7FFFFFFFFFFFFFFF, AX
	VMOVQ AX, X12
	VPBROADCASTQ X12, Y12
	MOVQ $0x3E80000000000000, AX
	VMOVQ AX, X14
	VPBROADCASTQ X14, Y14
	XORQ DX, DX
	XORQ BX, BX
	VXORPS Y7, Y7, Y7
	VPXOR Y5, Y5, Y5
	MOVL $8, AX
	VMOVQ AX, X8
	VPBROADCASTD X8, Y8
lloop:
	CMPQ CX, $8
	JL   ldone
	VMOVUPS (SI)(BX*1), Y0
	VMOVUPS (R8)(BX*1), Y1
	VMOVUPS (R9)(BX*1), Y2
	// Low four lanes in float64: v0 + T·((max(|v0|, θ) + c)·2^-23 + c) >= θ.
	VCVTPS2PD X0, Y9
	VCVTPS2PD X1, Y10
	VCVTPS2PD X2, Y11
	VANDPD Y12, Y10, Y13
	VMAXPD Y11, Y13, Y13
	VADDPD Y9, Y13, Y13
	VMULPD Y14, Y13, Y13
	VADDPD Y9, Y13, Y13
	VMULPD Y15, Y13, Y13
	VADDPD Y10, Y13, Y13
	VCMPPD $0x1D, Y11, Y13, Y13
	VMOVMSKPD Y13, DI
	// High four lanes.
	VEXTRACTF128 $1, Y0, X9
	VCVTPS2PD X9, Y9
	VEXTRACTF128 $1, Y1, X10
	VCVTPS2PD X10, Y10
	VEXTRACTF128 $1, Y2, X11
	VCVTPS2PD X11, Y11
	VANDPD Y12, Y10, Y13
	VMAXPD Y11, Y13, Y13
	VADDPD Y9, Y13, Y13
	VMULPD Y14, Y13, Y13
	VADDPD Y9, Y13, Y13
	VMULPD Y15, Y13, Y13
	VADDPD Y10, Y13, Y13
	VCMPPD $0x1D, Y11, Y13, Y13
	VMOVMSKPD Y13, AX
	SHLQ $4, AX
	ORQ  AX, DI
	// keep = (v0 + c >= θ) | (c > 0 & that).
	VCMPPS $0x1E, Y7, Y0, Y6
	VMOVMSKPS Y6, AX
	ANDQ AX, DI
	VADDPS Y0, Y1, Y3
	VCMPPS $0x1D, Y2, Y3, Y4
	VMOVMSKPS Y4, AX
	ORQ  DI, AX
	POPCNTQ AX, DI
	SHLQ $5, AX
	VMOVDQU (R14)(AX*1), Y6
	VPADDD Y5, Y6, Y4
	VMOVDQU Y4, (R10)(DX*4)
	VPERMPS Y1, Y6, Y1
	VMOVUPS Y1, (R11)(DX*4)
	VPERMPS Y0, Y6, Y0
	VMOVUPS Y0, (R12)(DX*4)
	VPERMPS Y2, Y6, Y2
	VMOVUPS Y2, (R13)(DX*4)
	ADDQ DI, DX
	VPADDD Y8, Y5, Y5
	ADDQ $32, BX
	SUBQ $8, CX
	JMP  lloop
ldone:
	MOVQ DX, ret+200(FP)
	VZEROUPPER
	RET

// func ifPack16AVX2(v, cur, th []float32, act, pack []int32) int
// ifPackAVX2 for a subtract reset with a current, 16 neurons a turn: len(v)
// a multiple of 16, and len(th) (the period of th and cur) one too or at
// least len(v).
TEXT ·ifPack16AVX2(SB), NOSPLIT, $0-128
	MOVQ v_base+0(FP), DI
	MOVQ v_len+8(FP), CX
	MOVQ cur_base+24(FP), SI
	MOVQ th_base+48(FP), DX
	MOVQ th_len+56(FP), R13
	SHLQ $2, R13
	MOVQ act_base+72(FP), R14
	MOVQ pack_base+96(FP), R8
	XORQ R10, R10
	VPXOR Y5, Y5, Y5
	MOVL $8, AX
	VMOVQ AX, X6
	VPBROADCASTD X6, Y6
qloop:
	CMPQ CX, $16
	JL   qdone
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y7
	VADDPS (SI)(R10*1), Y0, Y0
	VADDPS 32(SI)(R10*1), Y7, Y7
	VMOVUPS (DX)(R10*1), Y1
	VMOVUPS 32(DX)(R10*1), Y8
	ADDQ $64, R10
	CMPQ R10, R13
	JL   qthok
	XORQ R10, R10
qthok:
	VCMPPS $0x1D, Y1, Y0, Y2
	VCMPPS $0x1D, Y8, Y7, Y9
	VMOVMSKPS Y2, AX
	VMOVMSKPS Y9, BX
	VANDPS Y2, Y1, Y3
	VSUBPS Y3, Y0, Y0
	VANDPS Y9, Y8, Y10
	VSUBPS Y10, Y7, Y7
	VMOVUPS Y0, (DI)
	VMOVUPS Y7, 32(DI)
	POPCNTQ AX, R11
	SHLQ $5, AX
	VMOVDQU (R8)(AX*1), Y4
	VPADDD Y5, Y4, Y4
	VMOVDQU Y4, (R14)
	LEAQ (R14)(R11*4), R14
	VPADDD Y6, Y5, Y5
	POPCNTQ BX, R11
	SHLQ $5, BX
	VMOVDQU (R8)(BX*1), Y4
	VPADDD Y5, Y4, Y4
	VMOVDQU Y4, (R14)
	LEAQ (R14)(R11*4), R14
	VPADDD Y6, Y5, Y5
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  qloop
qdone:
	MOVQ act_base+72(FP), AX
	SUBQ AX, R14
	SHRQ $2, R14
	MOVQ R14, ret+120(FP)
	VZEROUPPER
	RET

// func windowMaxAVX2(in, out []float32, at, offs []int32, c int)
// poolGeom.windowMax for c channels a pixel: output pixel q's c floats get
// the largest of in[o:o+c] over the offsets o in offs[at[q]:at[q+1]], or 0
// for none; the lanes past a multiple of 8 go through masked loads and
// stores. VMAXPS returns its second operand on a tie of +0 and -0, which no
// later operation tells apart, and the inputs are finite.
TEXT ·windowMaxAVX2(SB), NOSPLIT, $0-104
	MOVQ in_base+0(FP), R8
	MOVQ out_base+24(FP), R9
	MOVQ at_base+48(FP), R10
	MOVQ at_len+56(FP), R12
	MOVQ offs_base+72(FP), R11
	MOVQ c+96(FP), CX
	MOVQ CX, R13
	ANDQ $-8, R13        // floats in whole blocks of 8
	ANDQ $7, CX
	VPXOR Y15, Y15, Y15
	TESTQ CX, CX
	JE   wnomask
	TAILMASK
wnomask:
	MOVQ c+96(FP), R14
	SHLQ $2, R14         // bytes a pixel
	DECQ R12             // output pixels
	VXORPS Y14, Y14, Y14
wq:
	TESTQ R12, R12
	JE   wdone
	MOVLQSX (R10), SI    // first offset's index
	MOVLQSX 4(R10), DI   // end
	XORQ BX, BX          // float within the pixel
wblk:
	CMPQ BX, R13
	JGE  wtail
	CMPQ SI, DI
	JE   wzero
	MOVLQSX (R11)(SI*4), AX
	ADDQ BX, AX
	VMOVUPS (R8)(AX*4), Y0
	LEAQ 1(SI), DX
wblkpix:
	CMPQ DX, DI
	JGE  wblkst
	MOVLQSX (R11)(DX*4), AX
	ADDQ BX, AX
	VMAXPS (R8)(AX*4), Y0, Y0
	INCQ DX
	JMP  wblkpix
wzero:
	VMOVAPS Y14, Y0
wblkst:
	VMOVUPS Y0, (R9)(BX*4)
	ADDQ $8, BX
	JMP  wblk
wtail:
	TESTQ CX, CX
	JE   wnext
	VMOVAPS Y14, Y0
	CMPQ SI, DI
	JE   wtailst
	MOVLQSX (R11)(SI*4), AX
	ADDQ BX, AX
	VMASKMOVPS (R8)(AX*4), Y15, Y0
	LEAQ 1(SI), DX
wtailpix:
	CMPQ DX, DI
	JGE  wtailst
	MOVLQSX (R11)(DX*4), AX
	ADDQ BX, AX
	VMASKMOVPS (R8)(AX*4), Y15, Y1
	VMAXPS Y1, Y0, Y0
	INCQ DX
	JMP  wtailpix
wtailst:
	VMASKMOVPS Y0, Y15, (R9)(BX*4)
wnext:
	ADDQ R14, R9
	ADDQ $4, R10
	DECQ R12
	JMP  wq
wdone:
	VZEROUPPER
	RET

// func findRunsAMD64(act []int32, j int, offs, runs []int32, pix []pixRun, m uint64, c, stride int32) (next, filled int, adds int64)
// convKernel.findRunsGo with the pixel of event a found as a*m>>42; offs is
// as long as act, every event's pixel is in pix.
TEXT ·findRunsAMD64(SB), NOSPLIT, $0-144
	MOVQ act_base+0(FP), SI
	MOVQ act_len+8(FP), CX
	MOVQ j+24(FP), BX
	MOVQ offs_base+32(FP), DI
	MOVQ runs_base+56(FP), R8
	MOVQ pix_base+80(FP), R11
	MOVLQZX c+112(FP), R13
	MOVLQSX stride+116(FP), R14
	XORQ R10, R10
	XORQ R15, R15
frun:
	CMPQ BX, CX
	JGE  fdone
	LEAQ 5(R10), AX
	CMPQ AX, runs_len+64(FP)
	JGT  fdone
	MOVQ BX, R12
	MOVL (SI)(BX*4), AX
	MOVQ AX, DX
	IMULQ m+104(FP), DX
	SHRQ $42, DX
	MOVQ DX, R9
	SHLQ $4, R9
	ADDQ R11, R9
	IMULQ R13, DX
	SUBL DX, AX
	IMULL R14, AX
	MOVL AX, (DI)(BX*4)
	INCQ BX
fev:
	CMPQ BX, CX
	JGE  fend
	MOVL (SI)(BX*4), AX
	SUBL DX, AX
	CMPL AX, R13
	JCC  fend
	IMULL R14, AX
	MOVL AX, (DI)(BX*4)
	INCQ BX
	JMP  fev
fend:
	MOVQ (R9), AX
	MOVQ AX, (R8)(R10*4)
	MOVL 8(R9), AX
	MOVL AX, 8(R8)(R10*4)
	MOVL R12, 12(R8)(R10*4)
	MOVL BX, 16(R8)(R10*4)
	MOVQ BX, AX
	SUBQ R12, AX
	MOVLQSX 12(R9), DX
	IMULQ DX, AX
	ADDQ AX, R15
	ADDQ $5, R10
	JMP  frun
fdone:
	MOVQ BX, next+120(FP)
	MOVQ R10, filled+128(FP)
	MOVQ R15, adds+136(FP)
	RET

// func poolMaxOneAMD64(act []int32, data []float32, one []int32, count []float32, lead, spiked []uint64)
// poolMaxOneGo: for each event a, count[a] += |data[a]| (1 with data nil);
// then, unless one[a] < 0, window o = one[a] takes key = bits(count[a])<<32 |
// ^a: spiked bit o is set when key >= lead[o], and lead[o] = max(lead[o], key).
TEXT ·poolMaxOneAMD64(SB), NOSPLIT, $0-144
	MOVQ act_base+0(FP), SI
	MOVQ act_len+8(FP), R15
	MOVQ data_base+24(FP), R8
	MOVQ one_base+48(FP), DI
	MOVQ count_base+72(FP), R9
	MOVQ lead_base+96(FP), R10
	MOVQ spiked_base+120(FP), R11
	MOVL $0x3f800000, AX
	MOVL AX, X1
	MOVL $0x7fffffff, AX
	MOVL AX, X2
	XORQ BX, BX
pmloop:
	CMPQ BX, R15
	JGE  pmdone
	MOVL (SI)(BX*4), AX
	TESTQ R8, R8
	JEQ  pmspike
	MOVSS (R8)(AX*4), X0
	ANDPS X2, X0
	JMP  pmadd
pmspike:
	MOVSS X1, X0
pmadd:
	ADDSS (R9)(AX*4), X0
	MOVSS X0, (R9)(AX*4)
	MOVLQSX (DI)(AX*4), DX
	TESTQ DX, DX
	JS   pmnext
	MOVL X0, R12
	SHLQ $32, R12
	NOTL AX
	ORQ  AX, R12
	MOVQ (R10)(DX*8), R13
	XORL R14, R14
	CMPQ R12, R13
	SETCC R14B
	CMOVQCS R13, R12
	MOVQ R12, (R10)(DX*8)
	MOVQ DX, CX
	SHLQ CX, R14
	SHRQ $6, DX
	ORQ  R14, (R11)(DX*8)
pmnext:
	INCQ BX
	JMP  pmloop
pmdone:
	RET

// func poolSumOneAMD64(act []int32, data []float32, one []int32, out []float32, reached []uint64) int
// poolSumOneGo: for each event a with a window o = one[a] >= 0, out[o] +=
// data[a] (1 with data nil) and reached bit o is set; returns how many.
TEXT ·poolSumOneAMD64(SB), NOSPLIT, $0-128
	MOVQ act_base+0(FP), SI
	MOVQ act_len+8(FP), R15
	MOVQ data_base+24(FP), R8
	MOVQ one_base+48(FP), DI
	MOVQ out_base+72(FP), R9
	MOVQ reached_base+96(FP), R11
	MOVL $0x3f800000, AX
	MOVL AX, X1
	XORQ BX, BX
	XORQ R12, R12
psloop:
	CMPQ BX, R15
	JGE  psdone
	MOVL (SI)(BX*4), AX
	MOVLQSX (DI)(AX*4), DX
	TESTQ DX, DX
	JS   psnext
	TESTQ R8, R8
	JEQ  psspike
	MOVSS (R8)(AX*4), X0
	JMP  psadd
psspike:
	MOVSS X1, X0
psadd:
	ADDSS (R9)(DX*4), X0
	MOVSS X0, (R9)(DX*4)
	MOVQ DX, CX
	MOVL $1, R14
	SHLQ CX, R14
	SHRQ $6, DX
	ORQ  R14, (R11)(DX*8)
	INCQ R12
psnext:
	INCQ BX
	JMP  psloop
psdone:
	MOVQ R12, ret+120(FP)
	RET
