// The addon's own CPU kernels, in ATen terms only (no N-API): Alea normal draws, Adam over every
// variable in one pass, NHWC group norm and padding. addon.cc exposes them to JavaScript, and a
// replayed step (capture.h) runs them without JavaScript. Errors are std::invalid_argument.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace genlab {

// ---- seeded normal draws ----------------------------------------------------------------

// Alea's state (Baagøe's generator, as seedrandom's `alea` runs it) and the arithmetic of one
// step: t = 2091639·s0 + c·2^-32, then the carry c = ⌊t⌋ and s2 = t − c.
struct Alea {
  double s0, s1, s2, c;
};

// fdlibm's __ieee754_log (FreeBSD msun's e_log.c), which V8 runs for Math.log, for the positive
// normal doubles the polar method feeds it, with its branches as selects so that the loop over a
// chunk vectorises. Its result is V8's bit for bit (checked against Math.log on 4 M values, the
// |f| < 2^-20 and f = 0 branches included; scratch check), where glibc's log is correctly rounded
// and differs from it in the last bit for ~3 % of inputs.
inline double FdlibmLog(double x) {
  constexpr double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  constexpr double Lg1 = 6.666666666666735130e-01, Lg2 = 3.999999999940941908e-01, Lg3 = 2.857142874366239149e-01,
                   Lg4 = 2.222219843214978396e-01, Lg5 = 1.818357216161805012e-01, Lg6 = 1.531383769920937332e-01,
                   Lg7 = 1.479819860511658591e-01;
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  int32_t hx = static_cast<int32_t>(bits >> 32);
  int32_t k = (hx >> 20) - 1023;
  hx &= 0x000fffff;
  const int32_t i0 = (hx + 0x95f64) & 0x100000;
  // x or x/2 scaled into [√2/2, √2)
  const uint64_t scaled_bits = (static_cast<uint64_t>(static_cast<uint32_t>(hx | (i0 ^ 0x3ff00000))) << 32) | (bits & 0xffffffffu);
  double scaled;
  std::memcpy(&scaled, &scaled_bits, sizeof scaled);
  k += i0 >> 20;
  const double f = scaled - 1.0;
  const double dk = static_cast<double>(k);
  // -2^-20 <= f < 2^-20
  const double r_tiny = f * f * (0.5 - 0.33333333333333333 * f);
  const double tiny = f == 0.0 ? (k == 0 ? 0.0 : dk * ln2_hi + dk * ln2_lo)
                               : (k == 0 ? f - r_tiny : dk * ln2_hi - ((r_tiny - dk * ln2_lo) - f));
  const double s = f / (2.0 + f);
  const double z = s * s;
  const double w = z * z;
  const int32_t i = (hx - 0x6147a) | (0x6b851 - hx);
  const double t1 = w * (Lg2 + w * (Lg4 + w * Lg6));
  const double t2 = z * (Lg1 + w * (Lg3 + w * (Lg5 + w * Lg7)));
  const double R = t2 + t1;
  const double hfsq = 0.5 * f * f;
  const double far = k == 0 ? f - (hfsq - s * (hfsq + R)) : dk * ln2_hi - ((hfsq - (s * (hfsq + R) + dk * ln2_lo)) - f);
  const double near = k == 0 ? f - s * (f - R) : dk * ln2_hi - ((s * (f - R) - dk * ln2_lo) - f);
  const bool is_tiny = (0x000fffff & (2 + hx)) < 3;
  return is_tiny ? tiny : (i > 0 ? far : near);
}

// √(−2 ln s / s) for a chunk of accepted pairs: vectorised (AVX-512, AVX2 or the baseline, picked at
// load); IEEE division and square root in every width, so the same doubles.
__attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3"))) void PolarScales(
    const double* __restrict__ s, double* __restrict__ scale, int64_t n) {
  for (int64_t j = 0; j < n; j++) scale[j] = std::sqrt(-2.0 * FdlibmLog(s[j]) / s[j]);
}

// Fills `out` as tf.randomNormal fills a seeded tensor: Marsaglia's polar method over Alea, pairs
// in order, each value mean + std·v·√(−2 ln s / s) in double, then rounded to float32. Same double
// arithmetic in the same order (-ffp-contract=off: no fused multiply-adds) and V8's own logarithm,
// so the values equal tfjs's bit for bit.
//
// Alea's step runs here in integers, with the same results: its fractions s are multiples of 2^-32
// (x = s·2^32 < 2^32) and its carry c < 2091639, so t·2^32 = 2091639·x0 + c < 2^53 is exact in a
// double, and ⌊t⌋ and t − ⌊t⌋ are that integer's high and low 32 bits. The carry is a serial
// dependency from one step to the next: as a 64-bit multiply-add and shift it is off the critical
// path, where the double form (multiply, add, truncate) bounded the whole fill.
//
// The fill then runs in chunks of two phases: candidate pairs, kept without a branch (a rejected
// pair's slot is overwritten by the next), then the scales of the kept ones (`PolarScales`).
// Scratch timings, one thread, 196,608 values: 8.9 ns a value for the one-loop double form, 4.7
// with the integer step and glibc's scalar log, 3.9 with the vectorised fdlibm log; the generator
// alone is 2.3.
void FillAleaNormal(float* out, int64_t n, const Alea& a, double mean, double std_dev) {
  uint64_t x0 = static_cast<uint64_t>(a.s0 * 4294967296.0), x1 = static_cast<uint64_t>(a.s1 * 4294967296.0),
           x2 = static_cast<uint64_t>(a.s2 * 4294967296.0), c = static_cast<uint64_t>(a.c);
  auto next = [&]() {
    const uint64_t t = 2091639 * x0 + c;
    x0 = x1;
    x1 = x2;
    c = t >> 32;
    x2 = t & 0xffffffffu;
    return static_cast<double>(x2) * 2.3283064365386963e-10;  // 2^-32, exact
  };
  constexpr int64_t kChunk = 512;  // pairs
  double v1s[kChunk], v2s[kChunk], ss[kChunk], scales[kChunk];
  for (int64_t i = 0; i < n;) {
    const int64_t wanted = std::min<int64_t>(kChunk, (n - i + 1) / 2);
    for (int64_t kept = 0; kept < wanted;) {
      const double v1 = 2 * next() - 1;
      const double v2 = 2 * next() - 1;
      const double s = v1 * v1 + v2 * v2;
      v1s[kept] = v1;
      v2s[kept] = v2;
      ss[kept] = s;
      kept += (s < 1) & (s != 0);
    }
    PolarScales(ss, scales, wanted);
    for (int64_t j = 0; j < wanted; j++) {
      out[i++] = static_cast<float>(mean + std_dev * v1s[j] * scales[j]);
      if (i < n) out[i++] = static_cast<float>(mean + std_dev * v2s[j] * scales[j]);
    }
  }
}

// ---- Adam ---------------------------------------------------------------------------------

struct AdamHyper {
  float beta1, beta2, epsilon, bias_correction2, step;  // step: −lr / (1 − β₁ᵗ)
};

// One pass over a variable's memory: m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
// w ← w + step · m / (√(v / (1−β₂ᵗ)) + ε), in the order of operations of the `_foreach_` kernels it
// replaces. Compiled for AVX2 and for the baseline, picked at load, and vectorised (-O2 leaves a
// loop of unknown length scalar).
__attribute__((target_clones("avx2", "default"), optimize("O3"))) void AdamRange(
    const float* __restrict__ w, const float* __restrict__ g, const float* __restrict__ m,
    const float* __restrict__ v, float* __restrict__ w_out, float* __restrict__ m_out, float* __restrict__ v_out,
    int64_t begin, int64_t end, AdamHyper h) {
  const float one_minus_beta1 = 1.0f - h.beta1;
  const float one_minus_beta2 = 1.0f - h.beta2;
  for (int64_t i = begin; i < end; i++) {
    const float gi = g[i];
    const float mi = m[i] * h.beta1 + gi * one_minus_beta1;
    const float vi = v[i] * h.beta2 + one_minus_beta2 * gi * gi;
    const float denominator = std::sqrt(vi / h.bias_correction2) + h.epsilon;
    m_out[i] = mi;
    v_out[i] = vi;
    w_out[i] = w[i] + h.step * mi / denominator;
  }
}

struct AdamHyperparameters {
  double learning_rate, beta1, beta2, epsilon;
};

// Adam for every variable: [m'…, v'…, w'…], new tensors (the inputs are left as they are). The bias
// corrections come from β₁ᵗ and β₂ᵗ held in scalar tensors (the optimizer's accBeta1 and accBeta2,
// as tfjs's Adam keeps them), so that a replayed step (capture.h) reads this step's values.
inline std::vector<at::Tensor> AdamStep(const std::array<std::vector<at::Tensor>, 4>& lists, const AdamHyperparameters& hyper,
                                        const at::Tensor& beta1_power, const at::Tensor& beta2_power) {
  const size_t count = lists[0].size();
  for (const auto& list : lists)
    if (list.size() != count) throw std::invalid_argument("adamUpdate: the four lists differ in length");
  for (const at::Tensor* power : {&beta1_power, &beta2_power})
    if (power->numel() != 1 || power->scalar_type() != at::kFloat)
      throw std::invalid_argument("adamUpdate: beta1Power and beta2Power are float32 scalars");
  c10::InferenceMode guard;
  const double bias_correction1 = 1.0 - beta1_power.item<float>();
  const double bias_correction2 = 1.0 - beta2_power.item<float>();
  const AdamHyper h{static_cast<float>(hyper.beta1), static_cast<float>(hyper.beta2), static_cast<float>(hyper.epsilon),
                    static_cast<float>(bias_correction2), static_cast<float>(-hyper.learning_rate / bias_correction1)};
  std::vector<at::Tensor> out(3 * count);
  for (size_t i = 0; i < count; i++) {
    at::Tensor in[4];  // contiguous (a filter's gradient arrives as a permuted view)
    for (size_t k = 0; k < 4; k++) {
      const at::Tensor& given = lists[k][i];
      if (!given.device().is_cpu() || given.scalar_type() != at::kFloat || given.numel() != (k == 0 ? given : in[0]).numel())
        throw std::invalid_argument("adamUpdate: expected CPU float32 tensors of one size per variable");
      in[k] = given.contiguous();
    }
    // The outputs take the variable's shape and strides, so a shape stays what tfjs expects.
    at::Tensor m_out = at::empty_like(in[0]), v_out = at::empty_like(in[0]), w_out = at::empty_like(in[0]);
    const float *w = in[0].data_ptr<float>(), *g = in[1].data_ptr<float>(), *m = in[2].data_ptr<float>(),
                *v = in[3].data_ptr<float>();
    float *wo = w_out.data_ptr<float>(), *mo = m_out.data_ptr<float>(), *vo = v_out.data_ptr<float>();
    at::parallel_for(0, in[0].numel(), 1 << 15, [&](int64_t begin, int64_t end) {
      AdamRange(w, g, m, v, wo, mo, vo, begin, end, h);
    });
    out[i] = std::move(m_out);
    out[count + i] = std::move(v_out);
    out[2 * count + i] = std::move(w_out);
  }
  return out;
}

// ---- group norm ---------------------------------------------------------------------------

// ---- group norm ---------------------------------------------------------------------------

// Per-channel Σx and Σx² over one sample's H·W pixels of a contiguous NHWC tensor, in double.
__attribute__((target_clones("avx2", "default"), optimize("O3"))) void ChannelSums(
    const float* __restrict__ x, int64_t pixels, int64_t channels, double* __restrict__ sum, double* __restrict__ sum_sq) {
  for (int64_t c = 0; c < channels; c++) sum[c] = sum_sq[c] = 0;
  for (int64_t p = 0; p < pixels; p++) {
    const float* row = x + p * channels;
    for (int64_t c = 0; c < channels; c++) {
      const double v = row[c];
      sum[c] += v;
      sum_sq[c] += v * v;
    }
  }
}

// y = x·scale[c] + shift[c] over one sample's pixels.
__attribute__((target_clones("avx2", "default"), optimize("O3"))) void ScaleShift(
    const float* __restrict__ x, int64_t pixels, int64_t channels, const float* __restrict__ scale,
    const float* __restrict__ shift, float* __restrict__ y) {
  for (int64_t p = 0; p < pixels; p++) {
    const float* row = x + p * channels;
    float* out = y + p * channels;
    for (int64_t c = 0; c < channels; c++) out[c] = row[c] * scale[c] + shift[c];
  }
}
// Group norm of a CPU float32 NHWC tensor in two passes over its memory per sample (per-channel
// sums in double, then one multiply-add), where the same thing as ATen ops (square, two sums, a
// multiply-add) made five: [y, mean, rstd], mean and rstd [N, G] as native_group_norm returns them.
inline std::array<at::Tensor, 3> GroupNormNhwc(const at::Tensor& x_in, const at::Tensor& gamma_in, const at::Tensor& beta_in,
                                               int64_t groups, double epsilon) {
  const at::Tensor x = x_in.contiguous();
  const at::Tensor gamma = gamma_in.contiguous();
  const at::Tensor beta = beta_in.contiguous();
  for (const at::Tensor* t : {&x, &gamma, &beta})
    if (!t->device().is_cpu() || t->scalar_type() != at::kFloat)
      throw std::invalid_argument("groupNormNhwc: expected CPU float32 tensors");
  if (x.dim() != 4) throw std::invalid_argument("groupNormNhwc: x must be NHWC (rank 4)");
  const int64_t batch = x.size(0), pixels = x.size(1) * x.size(2), channels = x.size(3);
  if (groups < 1 || channels % groups != 0 || gamma.numel() != channels || beta.numel() != channels)
    throw std::invalid_argument("groupNormNhwc: channels must divide into groups, with one gamma and beta per channel");
  c10::InferenceMode guard;
  at::Tensor y = at::empty_like(x);
  at::Tensor mean = at::empty({batch, groups}, x.options());
  at::Tensor rstd = at::empty({batch, groups}, x.options());
  const int64_t per_group = channels / groups;
  const double count = static_cast<double>(pixels * per_group);
  const float *xp = x.data_ptr<float>(), *gp = gamma.data_ptr<float>(), *bp = beta.data_ptr<float>();
  float *yp = y.data_ptr<float>(), *mp = mean.data_ptr<float>(), *rp = rstd.data_ptr<float>();
  at::parallel_for(0, batch, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> sum(channels), sum_sq(channels);
    std::vector<float> scale(channels), shift(channels);
    for (int64_t n = begin; n < end; n++) {
      const float* xn = xp + n * pixels * channels;
      ChannelSums(xn, pixels, channels, sum.data(), sum_sq.data());
      for (int64_t g = 0; g < groups; g++) {
        double s = 0, ss = 0;
        for (int64_t c = g * per_group; c < (g + 1) * per_group; c++) {
          s += sum[c];
          ss += sum_sq[c];
        }
        const double m = s / count;
        const double r = 1.0 / std::sqrt(std::max(ss / count - m * m, 0.0) + epsilon);
        mp[n * groups + g] = static_cast<float>(m);
        rp[n * groups + g] = static_cast<float>(r);
        for (int64_t c = g * per_group; c < (g + 1) * per_group; c++) {
          scale[c] = static_cast<float>(r * gp[c]);
          shift[c] = static_cast<float>(bp[c] - m * r * gp[c]);
        }
      }
      ScaleShift(xn, pixels, channels, scale.data(), shift.data(), yp + n * pixels * channels);
    }
  });
  return {std::move(y), std::move(mean), std::move(rstd)};
}

// ---- padding --------------------------------------------------------------------------------

// A CPU float32 NHWC x with zero rows and columns added ([top, bottom, left, right]), one contiguous
// copy per image row. aten::constant_pad_nd fills the whole output and then copies x through strided
// views: 1.5–1.9× slower than this on the energy net's shapes (scratch timing, one thread, 32–64 ×
// 8–32² × 3–64).
inline at::Tensor PadNhwc(const at::Tensor& x_in, const std::vector<int64_t>& pads) {
  if (pads.size() != 4 || std::any_of(pads.begin(), pads.end(), [](int64_t p) { return p < 0; }))
    throw std::invalid_argument("padNhwc(x, [top, bottom, left, right]) with non-negative padding");
  const at::Tensor x = x_in.contiguous();
  if (!x.device().is_cpu() || x.scalar_type() != at::kFloat || x.dim() != 4)
    throw std::invalid_argument("padNhwc: expected a CPU float32 NHWC tensor");
  const int64_t batch = x.size(0), height = x.size(1), width = x.size(2), channels = x.size(3);
  const int64_t top = pads[0], bottom = pads[1], left = pads[2], right = pads[3];
  const int64_t out_height = height + top + bottom, out_width = width + left + right;
  c10::InferenceMode guard;
  at::Tensor y = at::empty({batch, out_height, out_width, channels}, x.options());
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  const int64_t row = width * channels, out_row = out_width * channels;
  at::parallel_for(0, batch * out_height, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; r++) {
      const int64_t n = r / out_height, h = r % out_height - top;
      float* dst = yp + r * out_row;
      if (h < 0 || h >= height) {
        std::memset(dst, 0, out_row * sizeof(float));
        continue;
      }
      std::memset(dst, 0, left * channels * sizeof(float));
      std::memcpy(dst + left * channels, xp + (n * height + h) * row, row * sizeof(float));
      std::memset(dst + left * channels + row, 0, right * channels * sizeof(float));
    }
  });
  return y;
}

}  // namespace genlab
