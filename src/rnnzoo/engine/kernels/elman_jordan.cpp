// The Elman and Jordan engines' loops: Elman's forward (its backward stays in Python: rnnzoo/engine/elman.py),
// Jordan's forward and backward (rnnzoo/engine/jordan.py). A step is a product or two and one activation loop.

#include "common.h"
#include "kernels.h"

namespace {

template <typename T>
at::Tensor elman_forward_impl(const at::Tensor& xp, const at::Tensor& h0, const at::Tensor& W,
                              const OptTensor& mask, const OptTensor& valid, int64_t act,
                              const OptTensor& W_packed) {
  const int64_t L = xp.size(0), N = xp.size(1), H = xp.size(2);
  auto opts = xp.options();
  at::Tensor Y = at::empty({L, N, H}, opts), pre = at::empty({N, H}, opts), hr = at::empty({N, H}, opts);
  const T *xp_ = xp.data_ptr<T>(), *mask_ = ptr_or_null<T>(mask);
  const bool* valid_ = ptr_or_null<bool>(valid);
  T *Y_ = Y.data_ptr<T>(), *hr_ = hr.data_ptr<T>();
  const Weight<T> Wh(W, W_packed, N, L);
  const T* h = h0.data_ptr<T>();
  const T* hin = recurrent_input(h, mask_, N * H, hr_);
  for (int64_t t = 0; t < L; ++t) {
    at::Tensor r = product<T>(N, H, H, hin, Wh, nullptr, pre);  // W_hh h_rec
    T* y = Y_ + t * N * H;
    activate_row<T>(static_cast<int>(act), N * H, r.data_ptr<T>(), xp_ + t * N * H, y);
    hold_padded<T>(valid_ ? valid_ + t * N : nullptr, N, H, h, y);
    h = y;
    hin = recurrent_input(h, mask_, N * H, hr_);
  }
  return Y;
}

template <typename T>
std::vector<at::Tensor> jordan_forward_impl(const at::Tensor& xp, const at::Tensor& y0, const at::Tensor& W_hy,
                                            const at::Tensor& W_yh, const at::Tensor& b_y, const OptTensor& mask,
                                            const OptTensor& valid, int64_t act_h, int64_t act_y, bool keep,
                                            const OptTensor& Why_packed, const OptTensor& Wyh_packed) {
  const int64_t L = xp.size(0), N = xp.size(1), H = xp.size(2), O = y0.size(-1);
  auto opts = xp.options();
  at::Tensor Y = at::empty({L, N, O}, opts), Hh = at::empty({keep ? L : 1, N, H}, opts);
  at::Tensor pre = at::empty({N, H}, opts), out = at::empty({N, O}, opts), yr = at::empty({N, O}, opts);
  at::Tensor bias_rows = b_y.expand({N, O}).contiguous();
  const T *xp_ = xp.data_ptr<T>(), *b_ = bias_rows.data_ptr<T>(), *mask_ = ptr_or_null<T>(mask);
  const Weight<T> Why(W_hy, Why_packed, N, L), Wyh(W_yh, Wyh_packed, N, L);
  const bool* valid_ = ptr_or_null<bool>(valid);
  T *Y_ = Y.data_ptr<T>(), *H_ = Hh.data_ptr<T>(), *yr_ = yr.data_ptr<T>();
  const T* y = y0.data_ptr<T>();
  const T* yin = recurrent_input(y, mask_, N * O, yr_);
  for (int64_t t = 0; t < L; ++t) {
    T* h = H_ + (keep ? t : 0) * N * H;
    at::Tensor r = product<T>(N, H, O, yin, Why, nullptr, pre);  // h = act_h(xp + W_hy y_rec)
    activate_row<T>(static_cast<int>(act_h), N * H, r.data_ptr<T>(), xp_ + t * N * H, h);
    at::Tensor q = product<T>(N, O, H, h, Wyh, nullptr, out);  // y' = act_y(W_yh h + b_y)
    T* yn = Y_ + t * N * O;
    activate_row<T>(static_cast<int>(act_y), N * O, q.data_ptr<T>(), b_, yn);
    hold_padded<T>(valid_ ? valid_ + t * N : nullptr, N, O, y, yn);
    y = yn;
    yin = recurrent_input(y, mask_, N * O, yr_);
  }
  return {Y, Hh};
}

// Jordan's backward loop (rnnzoo/engine/jordan.py's): from the output gradient d of y_t, dP_t = d ⊙ act_y'
// (the gradient of W_yh h + b_y; zero where the step was padded), dX_t = (dP_t W_yh) ⊙ act_h' (of
// xp + W_hy y_rec), and the gradient reaching y_{t-1} (`state_grad`): mask ⊙ (dX_t W_hy) + dy_{t-1}, plus d
// where the step was padded (it held the state). The derivatives come from the outputs Y and Hh in the loop.
// WyhT = W_yh^T (H, O), WhyT = W_hy^T (O, H), so that both products are x B^T as `product` takes them.
template <typename T>
std::vector<at::Tensor> jordan_backward_impl(const at::Tensor& dY, const at::Tensor& dyT, const at::Tensor& Y,
                                             const at::Tensor& Hh, const at::Tensor& WyhT, const at::Tensor& WhyT,
                                             const OptTensor& mask, const OptTensor& valid, int64_t act_h,
                                             int64_t act_y, const OptTensor& WyhT_packed,
                                             const OptTensor& WhyT_packed) {
  const int64_t L = dY.size(0), N = dY.size(1), O = dY.size(2), H = Hh.size(2);
  auto opts = dY.options();
  at::Tensor dX = at::empty({L, N, H}, opts), dP = at::empty({L, N, O}, opts), q_buf = at::empty({N, H}, opts);
  at::Tensor d = dY[L - 1] + dyT, d_buf = at::empty({N, O}, opts), spare = at::empty({N, O}, opts);
  const T *dY_ = dY.data_ptr<T>(), *Y_ = Y.data_ptr<T>(), *H_ = Hh.data_ptr<T>(), *mask_ = ptr_or_null<T>(mask);
  const bool* valid_ = ptr_or_null<bool>(valid);
  const Weight<T> Wyh(WyhT, WyhT_packed, N, 0), Why(WhyT, WhyT_packed, N, 0);
  T *dX_ = dX.data_ptr<T>(), *dP_ = dP.data_ptr<T>();
  for (int64_t t = L - 1; t >= 0; --t) {
    const T* d_ = d.data_ptr<T>();
    T* dp = dP_ + t * N * O;
    mul_act_grad_row<T>(static_cast<int>(act_y), N * O, d_, Y_ + t * N * O, dp);
    if (valid_ != nullptr) {
      for (int64_t n = 0; n < N; ++n)
        if (!valid_[t * N + n]) std::memset(dp + n * O, 0, O * sizeof(T));
    }
    at::Tensor q = product<T>(N, H, O, dp, Wyh, nullptr, q_buf);
    T* dx = dX_ + t * N * H;
    mul_act_grad_row<T>(static_cast<int>(act_h), N * H, q.data_ptr<T>(), H_ + t * N * H, dx);
    const T* prev_dy = t > 0 ? dY_ + (t - 1) * N * O : nullptr;
    at::Tensor g = state_grad<T>(N, O, H, dx, Why, prev_dy, mask_, valid_ ? valid_ + t * N : nullptr, d_, d_buf);
    if (g.is_same(d_buf)) std::swap(d_buf, spare);  // BLAS wrote into d_buf: keep d's buffer apart
    d = g;
  }
  return {dX, dP, d};
}
}  // namespace

at::Tensor elman_forward(const at::Tensor& xp, const at::Tensor& h0, const at::Tensor& W_hh, const OptTensor& mask,
                         const OptTensor& valid, int64_t act, const OptTensor& W_hh_packed) {
  return RNNZOO_DISPATCH(xp, "xp", elman_forward_impl<T>(xp, h0, W_hh, mask, valid, act, W_hh_packed));
}

std::vector<at::Tensor> jordan_forward(const at::Tensor& xp, const at::Tensor& y0, const at::Tensor& W_hy,
                                       const at::Tensor& W_yh, const at::Tensor& b_y, const OptTensor& mask,
                                       const OptTensor& valid, int64_t act_h, int64_t act_y, bool keep,
                                       const OptTensor& W_hy_packed, const OptTensor& W_yh_packed) {
  return RNNZOO_DISPATCH(xp, "xp", jordan_forward_impl<T>(xp, y0, W_hy, W_yh, b_y, mask, valid, act_h, act_y, keep,
                                                          W_hy_packed, W_yh_packed));
}

std::vector<at::Tensor> jordan_backward(const at::Tensor& dY, const at::Tensor& dy_T, const at::Tensor& Y,
                                        const at::Tensor& Hh, const at::Tensor& W_yh_t, const at::Tensor& W_hy_t,
                                        const OptTensor& mask, const OptTensor& valid, int64_t act_h, int64_t act_y,
                                        const OptTensor& W_yh_t_packed, const OptTensor& W_hy_t_packed) {
  return RNNZOO_DISPATCH(dY, "dY", jordan_backward_impl<T>(dY, dy_T, Y, Hh, W_yh_t, W_hy_t, mask, valid, act_h,
                                                           act_y, W_yh_t_packed, W_hy_t_packed));
}
