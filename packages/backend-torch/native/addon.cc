// A deliberately small, generic bridge from Node to LibTorch. It knows nothing of tfjs kernels:
// it holds tensors in a slot table (JS refers to them by integer id), copies them from and to
// typed arrays, and calls any ATen operator by schema through the boxed dispatcher, converting
// each JS argument to what the operator's schema declares. The kernel mapping lives in
// TypeScript (src/kernels/).
#include <napi.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/InferenceMode.h>
#include <torch/version.h>

#include <algorithm>
#include <array>
#include <cmath>

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#if defined(__linux__)
#include <dlfcn.h>
#include <link.h>
#endif

#include <cstring>
#include <string>
#include <vector>

namespace {

// ---- per-thread state ------------------------------------------------------------------

struct Operator {
  c10::OperatorHandle handle;
  std::string name;
};

// One per JS environment (the main thread and each worker thread load the addon separately),
// so tensor ids never cross threads and need no locks.
struct State {
  std::vector<at::Tensor> slots;  // slot i holds a defined tensor while id i is live
  std::vector<int32_t> free_slots;  // ids to reuse
  int64_t live_count = 0;
  c10::Device default_device = c10::Device(c10::kCPU);
  std::vector<Operator> operators;
  // JS's view of the last `call`'s one tensor result: [id, dtypeCode, rank, ...sizes], id −1 when
  // the last tensor handed out came from elsewhere. Saves a `meta` call per kernel output.
  Napi::Reference<Napi::Int32Array> last_result;
};

State& StateOf(Napi::Env env) { return *env.GetInstanceData<State>(); }

int32_t Keep(Napi::Env env, at::Tensor tensor) {
  State& state = StateOf(env);
  if (!state.last_result.IsEmpty()) state.last_result.Value()[0] = -1;
  state.live_count++;
  if (!state.free_slots.empty()) {
    int32_t id = state.free_slots.back();
    state.free_slots.pop_back();
    state.slots[id] = std::move(tensor);
    return id;
  }
  state.slots.push_back(std::move(tensor));
  return static_cast<int32_t>(state.slots.size() - 1);
}

const at::Tensor& Get(Napi::Env env, const Napi::Value& value) {
  if (!value.IsNumber()) throw Napi::TypeError::New(env, "expected a tensor id");
  State& state = StateOf(env);
  int64_t id = value.As<Napi::Number>().Int64Value();
  if (id < 0 || id >= static_cast<int64_t>(state.slots.size()) || !state.slots[id].defined())
    throw Napi::Error::New(env, "tensor id " + std::to_string(id) + " is not live (disposed twice?)");
  return state.slots[id];
}

// ---- dtypes ---------------------------------------------------------------------------

// Codes shared with src/native.ts.
enum DtypeCode { kF32 = 0, kI32 = 1, kBool = 2, kI64 = 3, kF64 = 4, kF16 = 5, kU8 = 6, kOther = 7 };

DtypeCode CodeOf(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return kF32;
    case at::kInt: return kI32;
    case at::kBool: return kBool;
    case at::kLong: return kI64;
    case at::kDouble: return kF64;
    case at::kHalf: return kF16;
    case at::kByte: return kU8;
    default: return kOther;
  }
}

bool ScalarTypeNamed(const std::string& name, at::ScalarType* out) {
  if (name == "float32") *out = at::kFloat;
  else if (name == "int32") *out = at::kInt;
  else if (name == "bool") *out = at::kBool;
  else if (name == "int64") *out = at::kLong;
  else if (name == "float64") *out = at::kDouble;
  else if (name == "float16") *out = at::kHalf;
  else if (name == "uint8") *out = at::kByte;
  else return false;
  return true;
}

// ---- copies from and to JS -------------------------------------------------------------

std::vector<int64_t> IntsOf(Napi::Env env, const Napi::Value& value, const char* what) {
  if (!value.IsArray()) throw Napi::TypeError::New(env, std::string(what) + ": expected an array of integers");
  auto array = value.As<Napi::Array>();
  std::vector<int64_t> ints(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value item = array.Get(i);
    if (!item.IsNumber()) throw Napi::TypeError::New(env, std::string(what) + ": expected an array of integers");
    ints[i] = item.As<Napi::Number>().Int64Value();
  }
  return ints;
}

// fromArray(values: Float32Array | Int32Array | Uint8Array, shape: number[], dtype: string) → id
Napi::Value FromArray(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsTypedArray() || !info[2].IsString())
    throw Napi::TypeError::New(env, "fromArray(values, shape, dtype)");
  auto typed = info[0].As<Napi::TypedArray>();
  std::vector<int64_t> shape = IntsOf(env, info[1], "fromArray shape");
  at::ScalarType type;
  if (!ScalarTypeNamed(info[2].As<Napi::String>().Utf8Value(), &type))
    throw Napi::TypeError::New(env, "fromArray: unsupported dtype " + info[2].As<Napi::String>().Utf8Value());
  c10::InferenceMode guard;
  at::Tensor cpu = at::empty(shape, at::TensorOptions().dtype(type));
  size_t bytes = cpu.nbytes();
  if (typed.ByteLength() != bytes)
    throw Napi::RangeError::New(env, "fromArray: " + std::to_string(typed.ByteLength()) + " bytes given for a tensor of " +
                                         std::to_string(bytes) + " bytes");
  if (bytes > 0) {
    auto* source = static_cast<uint8_t*>(typed.ArrayBuffer().Data()) + typed.ByteOffset();
    std::memcpy(cpu.data_ptr(), source, bytes);
  }
  const c10::Device& device = StateOf(env).default_device;
  at::Tensor tensor = device.is_cpu() ? cpu : cpu.to(device);
  return Napi::Number::New(env, Keep(env, std::move(tensor)));
}

// toArray(id) → a typed array holding a contiguous CPU copy (Float32Array, Int32Array, Uint8Array
// for bool/uint8, Float64Array, BigInt64Array for int64).
Napi::Value ToArray(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  c10::InferenceMode guard;
  at::Tensor tensor = Get(env, info[0]).to(c10::kCPU).contiguous();
  size_t bytes = tensor.nbytes();
  auto buffer = Napi::ArrayBuffer::New(env, bytes);
  if (bytes > 0) std::memcpy(buffer.Data(), tensor.data_ptr(), bytes);
  size_t n = static_cast<size_t>(tensor.numel());
  switch (tensor.scalar_type()) {
    case at::kFloat: return Napi::Float32Array::New(env, n, buffer, 0);
    case at::kInt: return Napi::Int32Array::New(env, n, buffer, 0);
    case at::kBool:
    case at::kByte: return Napi::Uint8Array::New(env, n, buffer, 0);
    case at::kDouble: return Napi::Float64Array::New(env, n, buffer, 0);
    case at::kLong: return Napi::BigInt64Array::New(env, n, buffer, 0);
    default: throw Napi::TypeError::New(env, std::string("toArray: unsupported dtype ") + c10::toString(tensor.scalar_type()));
  }
}

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

// aleaNormal(shape, [s0, s1, s2, c], mean, std) → a new float32 tensor on the default device,
// drawn as tf.randomNormal(shape, mean, std, 'float32', seed) draws it, from Alea's state after
// seeding (src/kernels/alea.ts). JavaScript draws these at ~25 ns a value; this is ~5× faster,
// which matters for Langevin sampling (a draw the size of the batch every step).
Napi::Value AleaNormal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[1].IsArray() || !info[2].IsNumber() || !info[3].IsNumber())
    throw Napi::TypeError::New(env, "aleaNormal(shape, [s0, s1, s2, c], mean, std)");
  std::vector<int64_t> shape = IntsOf(env, info[0], "aleaNormal shape");
  auto state = info[1].As<Napi::Array>();
  if (state.Length() != 4) throw Napi::TypeError::New(env, "aleaNormal: the Alea state is [s0, s1, s2, c]");
  Alea alea{};
  double* fields[] = {&alea.s0, &alea.s1, &alea.s2, &alea.c};
  for (uint32_t i = 0; i < 4; i++) {
    Napi::Value value = state.Get(i);
    if (!value.IsNumber()) throw Napi::TypeError::New(env, "aleaNormal: the Alea state holds numbers");
    *fields[i] = value.As<Napi::Number>().DoubleValue();
  }
  c10::InferenceMode guard;
  at::Tensor cpu = at::empty(shape, at::TensorOptions().dtype(at::kFloat));
  FillAleaNormal(cpu.data_ptr<float>(), cpu.numel(), alea, info[2].As<Napi::Number>().DoubleValue(),
                 info[3].As<Napi::Number>().DoubleValue());
  const c10::Device& device = StateOf(env).default_device;
  at::Tensor tensor = device.is_cpu() ? cpu : cpu.to(device);
  return Napi::Number::New(env, Keep(env, std::move(tensor)));
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

// adamUpdate(values[], gradients[], ms[], vs[], [lr, β₁, β₂, ε, 1−β₁ᵗ, 1−β₂ᵗ]) → [m'…, v'…, w'…]:
// Adam for every variable in one call, new tensors out (the inputs are left as they are). CPU
// float32 only; the caller uses ATen's `_foreach_` ops elsewhere. On the small energy net, one call
// instead of the eight `_foreach_` calls made the training step 1.10× faster
// (`npm run bench:torch-step-ab -- --changes adam`).
Napi::Value AdamUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5 || !info[0].IsArray() || !info[1].IsArray() || !info[2].IsArray() || !info[3].IsArray())
    throw Napi::TypeError::New(env, "adamUpdate(values[], gradients[], ms[], vs[], [lr, beta1, beta2, epsilon, bc1, bc2])");
  if (!info[4].IsArray() || info[4].As<Napi::Array>().Length() != 6)
    throw Napi::TypeError::New(env, "adamUpdate: the hyperparameters are [lr, beta1, beta2, epsilon, bc1, bc2]");
  auto hyper_array = info[4].As<Napi::Array>();
  double hyper[6];
  for (uint32_t i = 0; i < 6; i++) {
    Napi::Value value = hyper_array.Get(i);
    if (!value.IsNumber()) throw Napi::TypeError::New(env, "adamUpdate: the hyperparameters are numbers");
    hyper[i] = value.As<Napi::Number>().DoubleValue();
  }
  const AdamHyper h{static_cast<float>(hyper[1]), static_cast<float>(hyper[2]), static_cast<float>(hyper[3]),
                    static_cast<float>(hyper[5]), static_cast<float>(-hyper[0] / hyper[4])};
  auto lists = std::array<Napi::Array, 4>{info[0].As<Napi::Array>(), info[1].As<Napi::Array>(),
                                          info[2].As<Napi::Array>(), info[3].As<Napi::Array>()};
  const uint32_t count = lists[0].Length();
  for (const auto& list : lists)
    if (list.Length() != count) throw Napi::TypeError::New(env, "adamUpdate: the four lists differ in length");
  c10::InferenceMode guard;
  std::vector<at::Tensor> m_out(count), v_out(count), w_out(count);
  for (uint32_t i = 0; i < count; i++) {
    at::Tensor in[4];  // contiguous (a filter's gradient arrives as a permuted view)
    for (size_t k = 0; k < 4; k++) {
      const at::Tensor& given = Get(env, lists[k].Get(i));
      if (!given.device().is_cpu() || given.scalar_type() != at::kFloat || given.numel() != (k == 0 ? given : in[0]).numel())
        throw Napi::TypeError::New(env, "adamUpdate: expected CPU float32 tensors of one size per variable");
      in[k] = given.contiguous();
    }
    // The outputs take the variable's shape and strides, so a shape stays what tfjs expects.
    w_out[i] = at::empty_like(in[0]);
    m_out[i] = at::empty_like(in[0]);
    v_out[i] = at::empty_like(in[0]);
    const float *w = in[0].data_ptr<float>(), *g = in[1].data_ptr<float>(), *m = in[2].data_ptr<float>(),
                *v = in[3].data_ptr<float>();
    float *wo = w_out[i].data_ptr<float>(), *mo = m_out[i].data_ptr<float>(), *vo = v_out[i].data_ptr<float>();
    at::parallel_for(0, in[0].numel(), 1 << 15, [&](int64_t begin, int64_t end) {
      AdamRange(w, g, m, v, wo, mo, vo, begin, end, h);
    });
  }
  auto out = Napi::Array::New(env, 3 * count);
  for (uint32_t i = 0; i < count; i++) {
    out.Set(i, Napi::Number::New(env, Keep(env, std::move(m_out[i]))));
    out.Set(count + i, Napi::Number::New(env, Keep(env, std::move(v_out[i]))));
    out.Set(2 * count + i, Napi::Number::New(env, Keep(env, std::move(w_out[i]))));
  }
  return out;
}

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

// groupNormNhwc(x, gamma, beta, groups, epsilon) → [y, mean, rstd]: group norm of a CPU float32
// NHWC tensor in two passes over its memory per sample (per-channel sums in double, then one
// multiply-add), where the same thing as ATen ops (square, two sums, a multiply-add) made five.
// mean and rstd are [N, G], as native_group_norm returns them.
Napi::Value GroupNormNhwc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5 || !info[3].IsNumber() || !info[4].IsNumber())
    throw Napi::TypeError::New(env, "groupNormNhwc(x, gamma, beta, groups, epsilon)");
  const at::Tensor x = Get(env, info[0]).contiguous();
  const at::Tensor gamma = Get(env, info[1]).contiguous();
  const at::Tensor beta = Get(env, info[2]).contiguous();
  const int64_t groups = info[3].As<Napi::Number>().Int64Value();
  const double epsilon = info[4].As<Napi::Number>().DoubleValue();
  for (const at::Tensor* t : {&x, &gamma, &beta})
    if (!t->device().is_cpu() || t->scalar_type() != at::kFloat)
      throw Napi::TypeError::New(env, "groupNormNhwc: expected CPU float32 tensors");
  if (x.dim() != 4) throw Napi::TypeError::New(env, "groupNormNhwc: x must be NHWC (rank 4)");
  const int64_t batch = x.size(0), pixels = x.size(1) * x.size(2), channels = x.size(3);
  if (groups < 1 || channels % groups != 0 || gamma.numel() != channels || beta.numel() != channels)
    throw Napi::TypeError::New(env, "groupNormNhwc: channels must divide into groups, with one gamma and beta per channel");
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
  auto out = Napi::Array::New(env, 3);
  out.Set(uint32_t{0}, Napi::Number::New(env, Keep(env, std::move(y))));
  out.Set(uint32_t{1}, Napi::Number::New(env, Keep(env, std::move(mean))));
  out.Set(uint32_t{2}, Napi::Number::New(env, Keep(env, std::move(rstd))));
  return out;
}

// ---- padding --------------------------------------------------------------------------------

// padNhwc(x, [top, bottom, left, right]) → a new tensor: a CPU float32 NHWC x with zero rows and
// columns added, one contiguous copy per image row. aten::constant_pad_nd fills the whole output
// and then copies x through strided views: 1.5–1.9× slower than this on the energy net's shapes
// (scratch timing, one thread, 32–64 × 8–32² × 3–64).
Napi::Value PadNhwc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<int64_t> pads = IntsOf(env, info[1], "padNhwc padding");
  if (pads.size() != 4 || std::any_of(pads.begin(), pads.end(), [](int64_t p) { return p < 0; }))
    throw Napi::TypeError::New(env, "padNhwc(x, [top, bottom, left, right]) with non-negative padding");
  const at::Tensor x = Get(env, info[0]).contiguous();
  if (!x.device().is_cpu() || x.scalar_type() != at::kFloat || x.dim() != 4)
    throw Napi::TypeError::New(env, "padNhwc: expected a CPU float32 NHWC tensor");
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
  return Napi::Number::New(env, Keep(env, std::move(y)));
}

Napi::Value Dispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  for (size_t i = 0; i < info.Length(); i++) {
    Get(env, info[i]);  // validates
    State& state = StateOf(env);
    int32_t id = info[i].As<Napi::Number>().Int32Value();
    state.slots[id] = at::Tensor();
    state.free_slots.push_back(id);
    state.live_count--;
  }
  return env.Undefined();
}

// setLastResultBuffer(Int32Array): where `call` describes its one tensor result (State::last_result).
Napi::Value SetLastResultBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      info[0].As<Napi::Int32Array>().ElementLength() < 4)
    throw Napi::TypeError::New(env, "setLastResultBuffer(Int32Array of at least 4 elements)");
  State& state = StateOf(env);
  state.last_result = Napi::Persistent(info[0].As<Napi::Int32Array>());
  state.last_result.Value()[0] = -1;
  return env.Undefined();
}

// meta(id) → [dtypeCode, ...shape]
Napi::Value Meta(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& tensor = Get(env, info[0]);
  auto sizes = tensor.sizes();
  auto out = Napi::Array::New(env, sizes.size() + 1);
  out.Set(uint32_t{0}, Napi::Number::New(env, CodeOf(tensor.scalar_type())));
  for (size_t i = 0; i < sizes.size(); i++) out.Set(uint32_t(i + 1), Napi::Number::New(env, double(sizes[i])));
  return out;
}

// ---- calling an operator by schema -------------------------------------------------------

// op(name, overload) → an index for call(); throws when LibTorch has no such operator.
Napi::Value Op(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  std::string overload = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
  if (!handle.has_value())
    throw Napi::Error::New(env, "LibTorch has no operator " + name + (overload.empty() ? "" : "." + overload));
  auto& operators = StateOf(env).operators;
  operators.push_back({*handle, name + (overload.empty() ? "" : "." + overload)});
  return Napi::Number::New(env, double(operators.size() - 1));
}

[[noreturn]] void ArgError(Napi::Env env, const Operator& op, const c10::Argument& arg, const std::string& what) {
  throw Napi::TypeError::New(env, op.name + " argument '" + arg.name() + "' (" + arg.type()->str() + "): " + what);
}

c10::IValue ToIValue(Napi::Env env, const Operator& op, const c10::Argument& arg, const c10::TypePtr& type,
                     const Napi::Value& value) {
  using c10::TypeKind;
  switch (type->kind()) {
    case TypeKind::OptionalType:
      if (value.IsNull() || value.IsUndefined()) return c10::IValue();
      return ToIValue(env, op, arg, type->castRaw<c10::OptionalType>()->getElementType(), value);
    case TypeKind::TensorType:
      if (!value.IsNumber()) ArgError(env, op, arg, "expected a tensor id");
      return Get(env, value);
    case TypeKind::IntType:
    case TypeKind::SymIntType:
      if (value.IsNumber()) return c10::IValue(value.As<Napi::Number>().Int64Value());
      if (value.IsString()) {  // a ScalarType or a MemoryFormat, whose schema type is int
        std::string name = value.As<Napi::String>().Utf8Value();
        at::ScalarType scalar_type;
        if (ScalarTypeNamed(name, &scalar_type)) return c10::IValue(static_cast<int64_t>(scalar_type));
        if (name == "contiguous") return c10::IValue(static_cast<int64_t>(c10::MemoryFormat::Contiguous));
        if (name == "channels_last") return c10::IValue(static_cast<int64_t>(c10::MemoryFormat::ChannelsLast));
        if (name == "preserve") return c10::IValue(static_cast<int64_t>(c10::MemoryFormat::Preserve));
        ArgError(env, op, arg, "unknown name '" + name + "'");
      }
      ArgError(env, op, arg, "expected an integer");
    case TypeKind::FloatType:
      if (!value.IsNumber()) ArgError(env, op, arg, "expected a number");
      return c10::IValue(value.As<Napi::Number>().DoubleValue());
    case TypeKind::NumberType: {  // Scalar: integral JS numbers become integer scalars
      if (value.IsBoolean()) return c10::IValue(value.As<Napi::Boolean>().Value());
      if (!value.IsNumber()) ArgError(env, op, arg, "expected a number");
      double number = value.As<Napi::Number>().DoubleValue();
      if (std::isfinite(number) && number == std::floor(number) && std::fabs(number) < 9007199254740992.0)
        return c10::IValue(static_cast<int64_t>(number));
      return c10::IValue(number);
    }
    case TypeKind::BoolType:
      if (!value.IsBoolean()) ArgError(env, op, arg, "expected a boolean");
      return c10::IValue(value.As<Napi::Boolean>().Value());
    case TypeKind::StringType:
      if (!value.IsString()) ArgError(env, op, arg, "expected a string");
      return c10::IValue(value.As<Napi::String>().Utf8Value());
    case TypeKind::DeviceObjType:
      if (!value.IsString()) ArgError(env, op, arg, "expected a device name");
      return c10::IValue(c10::Device(value.As<Napi::String>().Utf8Value()));
    case TypeKind::ListType: {
      if (!value.IsArray()) ArgError(env, op, arg, "expected an array");
      auto array = value.As<Napi::Array>();
      const auto& element = type->castRaw<c10::ListType>()->getElementType();
      switch (element->kind()) {
        case TypeKind::IntType:
        case TypeKind::SymIntType: {
          c10::List<int64_t> list;
          list.reserve(array.Length());
          for (uint32_t i = 0; i < array.Length(); i++) {
            Napi::Value item = array.Get(i);
            if (!item.IsNumber()) ArgError(env, op, arg, "expected integers");
            list.push_back(item.As<Napi::Number>().Int64Value());
          }
          return c10::IValue(std::move(list));
        }
        case TypeKind::FloatType: {
          c10::List<double> list;
          for (uint32_t i = 0; i < array.Length(); i++) list.push_back(array.Get(i).As<Napi::Number>().DoubleValue());
          return c10::IValue(std::move(list));
        }
        case TypeKind::BoolType: {
          c10::List<bool> list;
          for (uint32_t i = 0; i < array.Length(); i++) list.push_back(array.Get(i).ToBoolean().Value());
          return c10::IValue(std::move(list));
        }
        case TypeKind::TensorType: {
          c10::List<at::Tensor> list;
          list.reserve(array.Length());
          for (uint32_t i = 0; i < array.Length(); i++) list.push_back(Get(env, array.Get(i)));
          return c10::IValue(std::move(list));
        }
        case TypeKind::OptionalType: {  // Tensor?[] (indexing)
          c10::List<c10::optional<at::Tensor>> list;
          for (uint32_t i = 0; i < array.Length(); i++) {
            Napi::Value item = array.Get(i);
            if (item.IsNull() || item.IsUndefined()) list.push_back(c10::nullopt);
            else list.push_back(Get(env, item));
          }
          return c10::IValue(std::move(list));
        }
        default:
          ArgError(env, op, arg, "unsupported list element type");
      }
    }
    default:
      ArgError(env, op, arg, "unsupported argument type");
  }
}

Napi::Value FromIValue(Napi::Env env, const c10::IValue& value) {
  if (value.isTensor()) {
    const at::Tensor& tensor = value.toTensor();
    if (!tensor.defined()) return env.Null();  // e.g. a gradient that output_mask skipped
    return Napi::Number::New(env, Keep(env, tensor));
  }
  if (value.isTensorList()) {
    auto list = value.toTensorList();
    auto out = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); i++) out.Set(uint32_t(i), Napi::Number::New(env, Keep(env, list.get(i))));
    return out;
  }
  if (value.isInt()) return Napi::Number::New(env, double(value.toInt()));
  if (value.isDouble()) return Napi::Number::New(env, value.toDouble());
  if (value.isBool()) return Napi::Boolean::New(env, value.toBool());
  if (value.isNone()) return env.Null();
  if (value.isIntList()) {
    auto list = value.toIntVector();
    auto out = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); i++) out.Set(uint32_t(i), Napi::Number::New(env, double(list[i])));
    return out;
  }
  throw Napi::TypeError::New(env, std::string("unsupported return type ") + value.tagKind());
}

// call(opIndex, args[]) → the operator's result: a tensor id, a number, a boolean, or an array
// of those when the operator returns several values. Missing trailing arguments take the
// schema's defaults.
Napi::Value Call(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t index = info[0].As<Napi::Number>().Uint32Value();
  const auto& operators = StateOf(env).operators;
  if (index >= operators.size()) throw Napi::RangeError::New(env, "call: unknown operator index");
  const Operator& op = operators[index];
  const auto& schema = op.handle.schema();
  const auto& arguments = schema.arguments();
  auto args = info[1].As<Napi::Array>();
  if (args.Length() > arguments.size())
    throw Napi::TypeError::New(env, op.name + ": " + std::to_string(args.Length()) + " arguments given, at most " +
                                        std::to_string(arguments.size()) + " accepted");
  c10::InferenceMode guard;
  torch::jit::Stack stack;
  stack.reserve(arguments.size());
  for (size_t i = 0; i < arguments.size(); i++) {
    const auto& argument = arguments[i];
    if (i < args.Length() && !args.Get(uint32_t(i)).IsUndefined()) {
      stack.push_back(ToIValue(env, op, argument, argument.type(), args.Get(uint32_t(i))));
    } else if (argument.default_value().has_value()) {
      stack.push_back(*argument.default_value());
    } else {
      ArgError(env, op, argument, "missing, and the schema has no default");
    }
  }
  try {
    op.handle.callBoxed(&stack);
  } catch (const c10::Error& error) {
    throw Napi::Error::New(env, op.name + ": " + error.what_without_backtrace());
  } catch (const std::exception& error) {
    throw Napi::Error::New(env, op.name + ": " + error.what());
  }
  if (stack.size() == 1) {
    Napi::Value result = FromIValue(env, stack[0]);
    State& state = StateOf(env);
    if (result.IsNumber() && stack[0].isTensor() && !state.last_result.IsEmpty()) {
      Napi::Int32Array last = state.last_result.Value();
      const auto sizes = stack[0].toTensor().sizes();
      if (sizes.size() + 3 <= last.ElementLength()) {
        last[1] = CodeOf(stack[0].toTensor().scalar_type());
        last[2] = static_cast<int32_t>(sizes.size());
        for (size_t i = 0; i < sizes.size(); i++) last[3 + i] = static_cast<int32_t>(sizes[i]);
        last[0] = result.As<Napi::Number>().Int32Value();
      }
    }
    return result;
  }
  auto out = Napi::Array::New(env, stack.size());
  for (size_t i = 0; i < stack.size(); i++) out.Set(uint32_t(i), FromIValue(env, stack[i]));
  return out;
}

// ---- settings and facts ----------------------------------------------------------------

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  int threads = info[0].As<Napi::Number>().Int32Value();
  if (threads < 1) throw Napi::RangeError::New(info.Env(), "setNumThreads: at least 1 thread");
  at::set_num_threads(threads);
  return info.Env().Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), at::get_num_threads()); }

Napi::Value SetDevice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    c10::Device device(info[0].As<Napi::String>().Utf8Value());
    if (device.is_cuda() && !at::hasCUDA()) throw Napi::Error::New(env, "this LibTorch was built without CUDA, or no CUDA device is visible");
    StateOf(env).default_device = device;
  } catch (const c10::Error& error) {
    throw Napi::Error::New(env, error.what_without_backtrace());
  }
  return env.Undefined();
}

Napi::Value Facts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto out = Napi::Object::New(env);
  out.Set("torchVersion", TORCH_VERSION);
  out.Set("cuda", at::hasCUDA());
  out.Set("cudaDevices", at::hasCUDA() ? double(at::getNumGPUs()) : 0.0);
  out.Set("mkldnn", at::hasMKLDNN());
  out.Set("openmp", at::hasOpenMP());
  out.Set("device", StateOf(env).default_device.str());
  out.Set("parallelInfo", at::get_parallel_info());
  out.Set("config", at::show_config());
  return out;
}

// glibc returns big freed blocks to the kernel (mmap'd chunks, and a trimmed heap top), so every
// training step faults its activations' pages in again: ~45k page faults and ~15 % of a unet-tiny
// step. Keeping freed memory in the heap, as PyTorch users do with MALLOC_*_THRESHOLD_, costs a
// resident size that stays at the process's peak. Returns whether both settings took (false
// off glibc).
Napi::Value RetainFreedMemory(const Napi::CallbackInfo& info) {
  const auto mmap_threshold = info[0].As<Napi::Number>().Int64Value();
  const auto trim_threshold = info[1].As<Napi::Number>().Int64Value();
#if defined(__GLIBC__)
  const bool ok = mallopt(M_MMAP_THRESHOLD, static_cast<int>(mmap_threshold)) == 1 &&
                  mallopt(M_TRIM_THRESHOLD, static_cast<int>(trim_threshold)) == 1;
  return Napi::Boolean::New(info.Env(), ok);
#else
  (void)mmap_threshold;
  (void)trim_threshold;
  return Napi::Boolean::New(info.Env(), false);
#endif
}

#if defined(__linux__)
// The path of the first loaded shared object whose file name contains "openblas".
int FindOpenBlas(struct dl_phdr_info* info, size_t, void* data) {
  const char* name = info->dlpi_name;
  if (name != nullptr && std::strstr(name, "openblas") != nullptr) {
    *static_cast<std::string*>(data) = name;
    return 1;
  }
  return 0;
}
#endif

// OpenBLAS (pthread build) runs its own thread pool beside LibTorch's OpenMP threads; on a
// 2-core machine the two pools spin against each other (a unet-tiny training step on 2 threads
// took 706 ms with OpenBLAS on 2 threads, 549 ms on 1). Sets OpenBLAS's thread count when it is
// the BLAS that LibTorch loaded; returns false otherwise.
Napi::Value SetBlasThreads(const Napi::CallbackInfo& info) {
  const int threads = info[0].As<Napi::Number>().Int32Value();
#if defined(__linux__)
  std::string path;
  dl_iterate_phdr(FindOpenBlas, &path);
  if (path.empty()) return Napi::Boolean::New(info.Env(), false);
  void* handle = dlopen(path.c_str(), RTLD_LAZY | RTLD_NOLOAD);
  if (handle == nullptr) return Napi::Boolean::New(info.Env(), false);
  using SetThreads = void (*)(int);
  auto set = reinterpret_cast<SetThreads>(dlsym(handle, "openblas_set_num_threads"));
  if (set != nullptr) set(threads);
  dlclose(handle);
  return Napi::Boolean::New(info.Env(), set != nullptr);
#else
  (void)threads;
  return Napi::Boolean::New(info.Env(), false);
#endif
}

Napi::Value LiveTensors(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(StateOf(info.Env()).live_count));
}

// LibTorch reports errors as C++ exceptions (c10::Error); node-addon-api turns only Napi::Error
// into JS exceptions, so every entry point converts the rest.
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value Guarded(const Napi::CallbackInfo& info) {
  try {
    return F(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& error) {
    throw Napi::Error::New(info.Env(), error.what_without_backtrace());
  } catch (const std::exception& error) {
    throw Napi::Error::New(info.Env(), error.what());
  }
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new State());  // deleted by node-addon-api when the environment exits
  exports.Set("fromArray", Napi::Function::New(env, Guarded<FromArray>));
  exports.Set("toArray", Napi::Function::New(env, Guarded<ToArray>));
  exports.Set("aleaNormal", Napi::Function::New(env, Guarded<AleaNormal>));
  exports.Set("adamUpdate", Napi::Function::New(env, Guarded<AdamUpdate>));
  exports.Set("groupNormNhwc", Napi::Function::New(env, Guarded<GroupNormNhwc>));
  exports.Set("padNhwc", Napi::Function::New(env, Guarded<PadNhwc>));
  exports.Set("dispose", Napi::Function::New(env, Guarded<Dispose>));
  exports.Set("meta", Napi::Function::New(env, Guarded<Meta>));
  exports.Set("setLastResultBuffer", Napi::Function::New(env, Guarded<SetLastResultBuffer>));
  exports.Set("op", Napi::Function::New(env, Guarded<Op>));
  exports.Set("call", Napi::Function::New(env, Guarded<Call>));
  exports.Set("setNumThreads", Napi::Function::New(env, Guarded<SetNumThreads>));
  exports.Set("getNumThreads", Napi::Function::New(env, Guarded<GetNumThreads>));
  exports.Set("setDevice", Napi::Function::New(env, Guarded<SetDevice>));
  exports.Set("facts", Napi::Function::New(env, Guarded<Facts>));
  exports.Set("liveTensors", Napi::Function::New(env, Guarded<LiveTensors>));
  exports.Set("retainFreedMemory", Napi::Function::New(env, Guarded<RetainFreedMemory>));
  exports.Set("setBlasThreads", Napi::Function::New(env, Guarded<SetBlasThreads>));
  return exports;
}

}  // namespace

NODE_API_MODULE(genlab_torch, Init)
