// The entry points of the compiled kernels, as bindings.cpp exposes them to Python (keyword arguments with
// these names; `?` marks an optional tensor, None from Python). Tensors are contiguous, on the CPU, one dtype
// (float32 or float64); `*_packed` are oneDNN's packed copies of a weight (rnnzoo.engine.linalg.Right), used
// when given. Each is defined in the source named above it, next to the loop it runs; the Python engine each
// one mirrors stays the reference (tests/test_native.py checks that they agree).

#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

using OptTensor = c10::optional<at::Tensor>;

// --- lstm_forward.cpp -----------------------------------------------------------------------------------------
// (xp (L, N, G*H), h0 (N, P), c0 (N, H), W_hh (G*H, P), W_hr (P, H)?, peephole (3, H)?, ln_h weight/bias (G*H)?,
//  ln_c weight/bias (H)?, mask (N, P)?, valid (L, N) bool?, coupled, eps_h, eps_c, keep) ->
// [Y, C, A, T, c_T, mean_h, rstd_h, mean_c, rstd_c], the g block of xp and W_hh (or of ln_h's affine) doubled
// as in rnnzoo/engine/lstm.py (its `_forward`).
std::vector<at::Tensor> lstm_forward(const at::Tensor& xp, const at::Tensor& h0, const at::Tensor& c0,
                                     const at::Tensor& W_hh, const OptTensor& W_hr, const OptTensor& peephole,
                                     const OptTensor& ln_h_weight, const OptTensor& ln_h_bias,
                                     const OptTensor& ln_c_weight, const OptTensor& ln_c_bias, const OptTensor& mask,
                                     const OptTensor& valid, bool coupled, double eps_h, double eps_c, bool keep,
                                     const OptTensor& W_hh_packed, const OptTensor& W_hr_packed);

// --- lstm_backward.cpp ----------------------------------------------------------------------------------------
// (dY (L, N, P) with padded steps zeroed, dh_T, dc_T, h0, c0, the forward's Y, A, T (Tc), C, W_hh_t = W_hh^T (P, G*H),
//  W_hr_t = W_hr^T (H, P)?, peephole (3, H)?, mask (N, P)?, valid (L, N) bool?, coupled, both transposes packed?,
//  then with layer_norm: ln_h_weight, mean_h, rstd_h, the forward's W_hh (G*H, P) and its copy packed for
//  chunk * N rows?, chunk, ln_c_weight, mean_c, rstd_c; dG_transposed) -> [dG (L, N, G*H) (dG_transposed: a view
//  of a contiguous (G*H, L*N) matrix), dh_0, dc_0, DH (L, N, P) with proj_size, dW_hh with ln_h, ln_h's weight
//  gradient, ln_c's weight and bias gradients, the peephole weights' gradient (3, H) with peepholes]:
// rnnzoo/engine/lstm_backward.py's loop, the gate-gradient factors computed in the loop instead of beforehand.
std::vector<at::Tensor> lstm_backward(const at::Tensor& dY, const at::Tensor& dh_T, const at::Tensor& dc_T,
                                      const at::Tensor& h0, const at::Tensor& c0, const at::Tensor& Y,
                                      const at::Tensor& A, const at::Tensor& Tc, const at::Tensor& C,
                                      const at::Tensor& W_hh_t, const OptTensor& W_hr_t, const OptTensor& peephole,
                                      const OptTensor& mask, const OptTensor& valid, bool coupled,
                                      const OptTensor& W_hh_t_packed, const OptTensor& W_hr_t_packed,
                                      const OptTensor& ln_h_weight, const OptTensor& mean_h, const OptTensor& rstd_h,
                                      const OptTensor& W_hh, const OptTensor& W_hh_packed, int64_t chunk,
                                      const OptTensor& ln_c_weight, const OptTensor& mean_c, const OptTensor& rstd_c,
                                      bool dG_transposed);

// --- elman_jordan.cpp (activation codes `act*`: rnnzoo.engine.ACTIVATIONS' order) --------------------------------
// (xp (L, N, H), h0 (N, H), W_hh (H, H), mask (N, H)?, valid (L, N) bool?, act) -> Y (L, N, H):
// rnnzoo/engine/elman.py's `_forward`.
at::Tensor elman_forward(const at::Tensor& xp, const at::Tensor& h0, const at::Tensor& W_hh, const OptTensor& mask,
                         const OptTensor& valid, int64_t act, const OptTensor& W_hh_packed);

// (xp (L, N, H), y0 (N, O), W_hy (H, O), W_yh (O, H), b_y (O), mask (N, O)?, valid?, act_h, act_y, keep) ->
// [Y (L, N, O), Hh (L or 1, N, H)]: rnnzoo/engine/jordan.py's `_forward`.
std::vector<at::Tensor> jordan_forward(const at::Tensor& xp, const at::Tensor& y0, const at::Tensor& W_hy,
                                       const at::Tensor& W_yh, const at::Tensor& b_y, const OptTensor& mask,
                                       const OptTensor& valid, int64_t act_h, int64_t act_y, bool keep,
                                       const OptTensor& W_hy_packed, const OptTensor& W_yh_packed);

// (dY (L, N, O) with padded steps zeroed, dy_T, the forward's Y (L, N, O) and Hh (L, N, H), W_yh_t = W_yh^T
//  (H, O), W_hy_t = W_hy^T (O, H), mask (N, O)?, valid (L, N) bool?, act_h, act_y) -> [dX (L, N, H),
//  dP (L, N, O), dy_0]: rnnzoo/engine/jordan.py's backward loop.
std::vector<at::Tensor> jordan_backward(const at::Tensor& dY, const at::Tensor& dy_T, const at::Tensor& Y,
                                        const at::Tensor& Hh, const at::Tensor& W_yh_t, const at::Tensor& W_hy_t,
                                        const OptTensor& mask, const OptTensor& valid, int64_t act_h, int64_t act_y,
                                        const OptTensor& W_yh_t_packed, const OptTensor& W_hy_t_packed);

// --- ctrnn.cpp ----------------------------------------------------------------------------------------------
// (u (L, N, H), c = dt / tau (L, N, H), h0 (N, H), W_hh (H, H), mask (N, H)?, act) -> [Hh (L, N, H),
// Y = act(Hh)]: rnnzoo/engine/ctrnn.py's `_forward` (Euler steps).
std::vector<at::Tensor> ctrnn_forward(const at::Tensor& u, const at::Tensor& c, const at::Tensor& h0,
                                      const at::Tensor& W_hh, const OptTensor& mask, int64_t act,
                                      const OptTensor& W_hh_packed);

// (u (L, N, H), c = dt / tau (L, N, H), h0 (N, H), W_hh (H, H), mask (N, H)?, act) -> [h_T, Y = act(H) (L, N, H),
// S (3, L, N, H), K (4, L, N, H)]: rnnzoo/engine/ctrnn.py's `_forward_rk4`.
std::vector<at::Tensor> ctrnn_rk4_forward(const at::Tensor& u, const at::Tensor& c, const at::Tensor& h0,
                                          const at::Tensor& W_hh, const OptTensor& mask, int64_t act,
                                          const OptTensor& W_hh_packed);

// (G (L, N, H), overwritten, c (L, N, H), the forward's Y, S (3, L, N, H), K (4, L, N, H), s0 = act(h0) (N, H),
// W_hh_t = W_hh^T, mask (N, H)?, act) -> [dK (4, L, N, H), da (L, N, H), dh_0]: rnnzoo/engine/ctrnn.py's
// `_backward_rk4`.
std::vector<at::Tensor> ctrnn_rk4_backward(const at::Tensor& G, const at::Tensor& c, const at::Tensor& Y,
                                           const at::Tensor& S, const at::Tensor& K, const at::Tensor& s0,
                                           const at::Tensor& W_hh_t, const OptTensor& mask, int64_t act,
                                           const OptTensor& W_hh_t_packed);

// --- esn.cpp (the reservoir M as CSR: crow (n + 1) and col int32, values) ---------------------------------------
// (drive (L, n, B), M, s0 (n, B), leak_rate, alpha, beta) -> X (L, n, B) = alpha s + beta of every step:
// rnnzoo/reservoir/_run.py's `loop` (sigmoid form) and its x.
at::Tensor esn_driven(const at::Tensor& drive, const at::Tensor& crow, const at::Tensor& col,
                      const at::Tensor& values, const at::Tensor& s0, double leak_rate, double alpha, double beta);

// (base (steps, n, 1), M, W_y (n, O), W_x (O, n), b (O), W_u (O, I)?, u (steps, I)?, s0 (n), y0 (O), leak_rate)
// -> [Y (steps, O), s (n)]: rnnzoo/reservoir/_run.py's `closed` for one sequence and one layer.
std::vector<at::Tensor> esn_closed(const at::Tensor& base, const at::Tensor& crow, const at::Tensor& col,
                                   const at::Tensor& values, const at::Tensor& W_y, const at::Tensor& W_x,
                                   const at::Tensor& b, const OptTensor& W_u, const OptTensor& u,
                                   const at::Tensor& s0, const at::Tensor& y0, double leak_rate);

// --- scan.cpp (kind 0 = minGRU, 1 = minLSTM) ------------------------------------------------------------------
// (xp (L, N, K), h0 (N, H), valid (L, N) bool?, kind) -> Y (L, N, H), every state, padded steps keeping it:
// rnnzoo/engine/scan.py's `LinearScan.forward`.
at::Tensor scan_forward(const at::Tensor& xp, const at::Tensor& h0, const OptTensor& valid, int64_t kind);

// (dY (L, N, H): the gradient of every state, the final state's added at step L - 1; xp, h0, the forward's Y,
// valid?, kind) -> [dXP (L, N, K), dh0 (N, H)]: rnnzoo/engine/scan.py's `LinearScan.backward`.
std::vector<at::Tensor> scan_backward(const at::Tensor& dY, const at::Tensor& xp, const at::Tensor& h0,
                                      const at::Tensor& Y, const OptTensor& valid, int64_t kind);
