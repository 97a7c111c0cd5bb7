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
#include <memory>
#include <string>
#include <vector>

#include "capture.h"
#include "kernels.h"

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
  // While a step is being captured (captureBegin … captureEnd): what it does, in registers.
  std::unique_ptr<genlab::capture::Recording> recording;
  std::vector<std::unique_ptr<genlab::capture::Program>> programs;  // null once disposed
};

State& StateOf(Napi::Env env) { return *env.GetInstanceData<State>(); }

int32_t Keep(Napi::Env env, at::Tensor tensor) {
  State& state = StateOf(env);
  if (!state.last_result.IsEmpty()) state.last_result.Value()[0] = -1;
  state.live_count++;
  int32_t id;
  if (!state.free_slots.empty()) {
    id = state.free_slots.back();
    state.free_slots.pop_back();
    state.slots[id] = std::move(tensor);
  } else {
    state.slots.push_back(std::move(tensor));
    id = static_cast<int32_t>(state.slots.size() - 1);
  }
  if (state.recording) state.recording->Produced(id);
  return id;
}

const at::Tensor& Get(Napi::Env env, const Napi::Value& value) {
  if (!value.IsNumber()) throw Napi::TypeError::New(env, "expected a tensor id");
  State& state = StateOf(env);
  int64_t id = value.As<Napi::Number>().Int64Value();
  if (id < 0 || id >= static_cast<int64_t>(state.slots.size()) || !state.slots[id].defined())
    throw Napi::Error::New(env, "tensor id " + std::to_string(id) + " is not live (disposed twice?)");
  return state.slots[id];
}

// Keeps a tensor made from JavaScript values (an upload or a draw); a recording holds it as a constant.
int32_t KeepConstant(Napi::Env env, at::Tensor tensor, const char* name) {
  State& state = StateOf(env);
  const int32_t id = Keep(env, tensor);
  if (state.recording) {
    genlab::capture::Instruction ins = state.recording->Make(genlab::capture::Kind::kConstant, name);
    ins.value = std::move(tensor);
    state.recording->Add(std::move(ins));
  }
  return id;
}

// An instruction to fill: in the recording's program when one is on (else a throwaway).
genlab::capture::Instruction NewInstruction(Napi::Env env, genlab::capture::Kind kind, const char* name) {
  State& state = StateOf(env);
  return state.recording ? state.recording->Make(kind, name) : genlab::capture::Instruction(kind, name);
}

// The register of a tensor argument in the recording (which must be on).
int32_t RegisterOf(Napi::Env env, const Napi::Value& value) {
  const at::Tensor& tensor = Get(env, value);
  return StateOf(env).recording->RegisterOf(value.As<Napi::Number>().Int32Value(), tensor);
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
  return Napi::Number::New(env, KeepConstant(env, std::move(tensor), "fromArray"));
}

// toArray(id) → a typed array holding a contiguous CPU copy (Float32Array, Int32Array, Uint8Array
// for bool/uint8, Float64Array, BigInt64Array for int64).
Napi::Value ToArray(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (StateOf(env).recording)
    throw Napi::Error::New(env, "a captured step cannot read tensor values (data, dataSync, array): its replays would not; read them after the step");
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
  genlab::Alea alea{};
  double* fields[] = {&alea.s0, &alea.s1, &alea.s2, &alea.c};
  for (uint32_t i = 0; i < 4; i++) {
    Napi::Value value = state.Get(i);
    if (!value.IsNumber()) throw Napi::TypeError::New(env, "aleaNormal: the Alea state holds numbers");
    *fields[i] = value.As<Napi::Number>().DoubleValue();
  }
  c10::InferenceMode guard;
  at::Tensor cpu = at::empty(shape, at::TensorOptions().dtype(at::kFloat));
  genlab::FillAleaNormal(cpu.data_ptr<float>(), cpu.numel(), alea, info[2].As<Napi::Number>().DoubleValue(),
                         info[3].As<Napi::Number>().DoubleValue());
  const c10::Device& device = StateOf(env).default_device;
  at::Tensor tensor = device.is_cpu() ? cpu : cpu.to(device);
  // Recorded as its values: a replay repeats this draw, and two recordings that drew differently differ.
  return Napi::Number::New(env, KeepConstant(env, std::move(tensor), "aleaNormal"));
}

// ---- the addon's kernels (kernels.h) ---------------------------------------------------------

// adamUpdate(values[], gradients[], ms[], vs[], [lr, β₁, β₂, ε], β₁ᵗ, β₂ᵗ) → [m'…, v'…, w'…]: Adam
// for every variable in one call (genlab::AdamStep), new tensors out; β₁ᵗ and β₂ᵗ are float32 scalar
// tensors (the optimizer's accBeta1 and accBeta2). CPU float32 only; the caller uses ATen's
// `_foreach_` ops elsewhere. On the small energy net, one call instead of the eight `_foreach_`
// calls made the training step 1.10× faster (`npm run bench:torch-step-ab -- --changes adam`).
Napi::Value AdamUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 7 || !info[0].IsArray() || !info[1].IsArray() || !info[2].IsArray() || !info[3].IsArray())
    throw Napi::TypeError::New(env, "adamUpdate(values[], gradients[], ms[], vs[], [lr, beta1, beta2, epsilon], beta1Power, beta2Power)");
  if (!info[4].IsArray() || info[4].As<Napi::Array>().Length() != 4)
    throw Napi::TypeError::New(env, "adamUpdate: the hyperparameters are [lr, beta1, beta2, epsilon]");
  auto hyper_array = info[4].As<Napi::Array>();
  double hyper[4];
  for (uint32_t i = 0; i < 4; i++) {
    Napi::Value value = hyper_array.Get(i);
    if (!value.IsNumber()) throw Napi::TypeError::New(env, "adamUpdate: the hyperparameters are numbers");
    hyper[i] = value.As<Napi::Number>().DoubleValue();
  }
  State& state = StateOf(env);
  genlab::capture::Instruction ins = NewInstruction(env, genlab::capture::Kind::kAdam, "adamUpdate");
  std::array<std::vector<at::Tensor>, 4> lists;
  for (size_t k = 0; k < 4; k++) {
    auto array = info[k].As<Napi::Array>();
    for (uint32_t i = 0; i < array.Length(); i++) {
      lists[k].push_back(Get(env, array.Get(i)));
      if (state.recording) ins.inputs.push_back(RegisterOf(env, array.Get(i)));
    }
  }
  const at::Tensor& beta1_power = Get(env, info[5]);
  const at::Tensor& beta2_power = Get(env, info[6]);
  if (state.recording) ins.inputs.insert(ins.inputs.end(), {RegisterOf(env, info[5]), RegisterOf(env, info[6])});
  std::vector<at::Tensor> out = genlab::AdamStep(lists, {hyper[0], hyper[1], hyper[2], hyper[3]}, beta1_power, beta2_power);
  auto ids = Napi::Array::New(env, out.size());
  for (size_t i = 0; i < out.size(); i++) ids.Set(uint32_t(i), Napi::Number::New(env, Keep(env, std::move(out[i]))));
  if (state.recording) {
    ins.numbers.assign(hyper, hyper + 4);
    state.recording->Add(std::move(ins));
  }
  return ids;
}

// groupNormNhwc(x, gamma, beta, groups, epsilon) → [y, mean, rstd] (genlab::GroupNormNhwc).
Napi::Value GroupNormNhwc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5 || !info[3].IsNumber() || !info[4].IsNumber())
    throw Napi::TypeError::New(env, "groupNormNhwc(x, gamma, beta, groups, epsilon)");
  const int64_t groups = info[3].As<Napi::Number>().Int64Value();
  const double epsilon = info[4].As<Napi::Number>().DoubleValue();
  State& state = StateOf(env);
  genlab::capture::Instruction ins = NewInstruction(env, genlab::capture::Kind::kGroupNorm, "groupNormNhwc");
  if (state.recording) ins.inputs.assign({RegisterOf(env, info[0]), RegisterOf(env, info[1]), RegisterOf(env, info[2])});
  auto out = genlab::GroupNormNhwc(Get(env, info[0]), Get(env, info[1]), Get(env, info[2]), groups, epsilon);
  auto ids = Napi::Array::New(env, 3);
  for (uint32_t i = 0; i < 3; i++) ids.Set(i, Napi::Number::New(env, Keep(env, std::move(out[i]))));
  if (state.recording) {
    ins.ints.push_back(groups);
    ins.numbers.push_back(epsilon);
    state.recording->Add(std::move(ins));
  }
  return ids;
}

// padNhwc(x, [top, bottom, left, right]) → a new tensor (genlab::PadNhwc).
Napi::Value PadNhwc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<int64_t> pads = IntsOf(env, info[1], "padNhwc padding");
  State& state = StateOf(env);
  genlab::capture::Instruction ins = NewInstruction(env, genlab::capture::Kind::kPad, "padNhwc");
  if (state.recording) ins.inputs.push_back(RegisterOf(env, info[0]));
  const int32_t id = Keep(env, genlab::PadNhwc(Get(env, info[0]), pads));
  if (state.recording) {
    ins.ints.assign(pads.begin(), pads.end());
    state.recording->Add(std::move(ins));
  }
  return Napi::Number::New(env, id);
}

Napi::Value Dispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  for (size_t i = 0; i < info.Length(); i++) {
    Get(env, info[i]);  // validates
    State& state = StateOf(env);
    int32_t id = info[i].As<Napi::Number>().Int32Value();
    if (state.recording) state.recording->Freed(id);
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

// An operator call as a recorded instruction: its stack with None where tensors go, and the
// registers of its tensor arguments (read from the JS ids, as ToIValue converted them).
genlab::capture::Instruction RecordOperator(Napi::Env env, const Operator& op, const Napi::Array& args, const torch::jit::Stack& stack) {
  using genlab::capture::TensorArgument;
  genlab::capture::Instruction ins = StateOf(env).recording->Make(genlab::capture::Kind::kOperator, op.name);
  ins.op = op.handle;
  // The stack's values, but None where tensors go (filled from registers) and where int lists go
  // (kept in the program's arena, not as heap-allocated IValue lists).
  std::vector<bool> filled(stack.size(), false);
  const auto& arguments = op.handle.schema().arguments();
  for (uint32_t i = 0; i < args.Length() && i < arguments.size(); i++) {
    Napi::Value value = args.Get(i);
    if (value.IsNull() || value.IsUndefined()) continue;
    c10::TypePtr type = arguments[i].type();
    if (type->kind() == c10::TypeKind::OptionalType) type = type->castRaw<c10::OptionalType>()->getElementType();
    const size_t begin = ins.tensor_registers.size();
    if (type->kind() == c10::TypeKind::TensorType) {
      ins.tensor_registers.push_back(RegisterOf(env, value));
      ins.tensors.push_back({i, TensorArgument::Shape::kTensor, begin, 1});
    } else if (type->kind() == c10::TypeKind::ListType) {
      const auto& element = type->castRaw<c10::ListType>()->getElementType();
      const bool optional = element->kind() == c10::TypeKind::OptionalType;
      if (element->kind() != c10::TypeKind::TensorType && !optional) continue;
      auto array = value.As<Napi::Array>();
      for (uint32_t j = 0; j < array.Length(); j++) {
        Napi::Value item = array.Get(j);
        ins.tensor_registers.push_back(item.IsNull() || item.IsUndefined() ? -1 : RegisterOf(env, item));
      }
      ins.tensors.push_back(
          {i, optional ? TensorArgument::Shape::kOptionalList : TensorArgument::Shape::kList, begin, ins.tensor_registers.size() - begin});
    } else {
      continue;
    }
    filled[i] = true;
  }
  ins.constants.reserve(stack.size());
  for (size_t i = 0; i < stack.size(); i++) {
    if (filled[i]) {
      ins.constants.emplace_back();
    } else if (stack[i].isIntList()) {
      const std::vector<int64_t> values = stack[i].toIntVector();
      ins.int_lists.push_back({i, ins.list_values.size(), values.size()});
      ins.list_values.insert(ins.list_values.end(), values.begin(), values.end());
      ins.constants.emplace_back();
    } else {
      ins.constants.push_back(stack[i]);
    }
  }
  return ins;
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
  std::optional<genlab::capture::Instruction> recorded;
  if (StateOf(env).recording) recorded = RecordOperator(env, op, args, stack);
  try {
    op.handle.callBoxed(&stack);
  } catch (const c10::Error& error) {
    throw Napi::Error::New(env, op.name + ": " + error.what_without_backtrace());
  } catch (const std::exception& error) {
    throw Napi::Error::New(env, op.name + ": " + error.what());
  }
  Napi::Value result;
  if (stack.size() == 1) {
    result = FromIValue(env, stack[0]);
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
  } else {
    auto out = Napi::Array::New(env, stack.size());
    for (size_t i = 0; i < stack.size(); i++) out.Set(uint32_t(i), FromIValue(env, stack[i]));
    result = out;
  }
  if (recorded) {  // its results are kept by now, in stack order
    for (const c10::IValue& value : stack)
      if (!value.isTensor() && !value.isTensorList()) genlab::capture::AppendValue(recorded->returned, value);
    StateOf(env).recording->Add(std::move(*recorded));
  }
  return result;
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

// ---- step capture (capture.h) -----------------------------------------------------------------

std::vector<int32_t> IdsOf(Napi::Env env, const Napi::Value& value, const char* what) {
  std::vector<int64_t> ints = IntsOf(env, value, what);
  return std::vector<int32_t>(ints.begin(), ints.end());
}

// Ids of live tensors.
std::vector<int32_t> SlotsOf(Napi::Env env, const Napi::Value& value, const char* what) {
  std::vector<int32_t> slots = IdsOf(env, value, what);
  const State& state = StateOf(env);
  for (int32_t id : slots)
    if (id < 0 || id >= static_cast<int32_t>(state.slots.size()) || !state.slots[id].defined())
      throw Napi::Error::New(env, std::string(what) + ": tensor id " + std::to_string(id) + " is not live");
  return slots;
}

genlab::capture::Program& ProgramOf(Napi::Env env, const Napi::Value& value) {
  auto& programs = StateOf(env).programs;
  const int64_t index = value.IsNumber() ? value.As<Napi::Number>().Int64Value() : -1;
  if (index < 0 || index >= static_cast<int64_t>(programs.size()) || !programs[index])
    throw Napi::Error::New(env, "not a live captured step (disposed?)");
  return *programs[index];
}

// captureBegin(): the calls that follow are recorded, until captureEnd or captureAbort.
Napi::Value CaptureBegin(const Napi::CallbackInfo& info) {
  State& state = StateOf(info.Env());
  if (state.recording) throw Napi::Error::New(info.Env(), "a step is already being captured");
  state.recording = std::make_unique<genlab::capture::Recording>();
  return info.Env().Undefined();
}

// captureAbort(): drops the recording, if any.
Napi::Value CaptureAbort(const Napi::CallbackInfo& info) {
  StateOf(info.Env()).recording.reset();
  return info.Env().Undefined();
}

// captureEnd(variablesBefore[], variablesAfter[], inputs[], outputs[]) → { program, variables, calls }:
// ends the recording. The slots: every variable's before the step and now, the step's inputs and
// results. `variables`: the indices (into the variable lists) of those the program reads or
// writes, in the order replay takes their slots; `calls`: native calls recorded.
Napi::Value CaptureEnd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  State& state = StateOf(env);
  if (!state.recording) throw Napi::Error::New(env, "no step is being captured");
  std::unique_ptr<genlab::capture::Recording> recording = std::move(state.recording);
  auto program = std::make_unique<genlab::capture::Program>(recording->Finish(
      IdsOf(env, info[0], "captureEnd variablesBefore"), SlotsOf(env, info[1], "captureEnd variablesAfter"),
      SlotsOf(env, info[2], "captureEnd inputs"), SlotsOf(env, info[3], "captureEnd outputs"),
      [&](int32_t slot) -> const at::Tensor& { return state.slots[slot]; }));  // live: SlotsOf checked
  auto out = Napi::Object::New(env);
  auto variables = Napi::Array::New(env, program->variables.size());
  for (size_t i = 0; i < program->variables.size(); i++) variables.Set(uint32_t(i), Napi::Number::New(env, program->variables[i]));
  size_t calls = 0;
  double constant_bytes = 0;
  for (const auto& ins : program->instructions) {
    calls += ins.kind != genlab::capture::Kind::kFree;
    if (ins.value.defined()) constant_bytes += double(ins.value.nbytes());
  }
  for (const auto& e : program->externals)
    if (e.pinned.defined()) constant_bytes += double(e.pinned.nbytes());
  out.Set("variables", variables);
  out.Set("calls", Napi::Number::New(env, double(calls)));
  out.Set("constantBytes", Napi::Number::New(env, constant_bytes));
  state.programs.push_back(std::move(program));
  out.Set("program", Napi::Number::New(env, double(state.programs.size() - 1)));
  return out;
}

// replay(program, variables[], inputs[]) → output ids: runs a captured step. `variables`: the slots
// now holding the variables captureEnd named, in its order; each that the step updates gets its new
// value in that same slot (so JavaScript's handles stay valid). Nothing changes if it throws.
Napi::Value Replay(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  State& state = StateOf(env);
  if (state.recording) throw Napi::Error::New(env, "cannot replay a captured step while capturing another");
  const genlab::capture::Program& program = ProgramOf(env, info[0]);
  std::vector<int32_t> variable_slots = SlotsOf(env, info[1], "replay variables");
  std::vector<int32_t> input_slots = SlotsOf(env, info[2], "replay inputs");
  if (variable_slots.size() != program.variables.size() || input_slots.size() != program.inputs)
    throw Napi::TypeError::New(env, "replay: the step was captured with " + std::to_string(program.variables.size()) +
                                        " variables and " + std::to_string(program.inputs) + " inputs");
  std::vector<at::Tensor> variables, inputs;
  for (int32_t slot : variable_slots) variables.push_back(state.slots[slot]);
  for (int32_t slot : input_slots) inputs.push_back(state.slots[slot]);
  genlab::capture::Replayed replayed = genlab::capture::Replay(program, variables, inputs);
  for (size_t i = 0; i < program.writebacks.size(); i++) {
    const at::Tensor &now = state.slots[variable_slots[program.writebacks[i].first]], &next = replayed.variables[i];
    if (next.sizes() != now.sizes() || next.scalar_type() != now.scalar_type())
      throw Napi::Error::New(env, "replay: a variable's new value has another shape or dtype than its current one");
  }
  for (size_t i = 0; i < program.writebacks.size(); i++)
    state.slots[variable_slots[program.writebacks[i].first]] = std::move(replayed.variables[i]);
  auto out = Napi::Array::New(env, replayed.outputs.size());
  for (size_t i = 0; i < replayed.outputs.size(); i++) out.Set(uint32_t(i), Napi::Number::New(env, Keep(env, std::move(replayed.outputs[i]))));
  return out;
}

// programDifference(a, b) → why two captures of one step differ, "" when they do not.
Napi::Value ProgramDifference(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::String::New(env, genlab::capture::Difference(ProgramOf(env, info[0]), ProgramOf(env, info[1])));
}

// programDispose(program): frees what it holds (its constants).
Napi::Value ProgramDispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ProgramOf(env, info[0]);  // validates
  StateOf(env).programs[info[0].As<Napi::Number>().Int64Value()].reset();
  return env.Undefined();
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
  exports.Set("captureBegin", Napi::Function::New(env, Guarded<CaptureBegin>));
  exports.Set("captureEnd", Napi::Function::New(env, Guarded<CaptureEnd>));
  exports.Set("captureAbort", Napi::Function::New(env, Guarded<CaptureAbort>));
  exports.Set("replay", Napi::Function::New(env, Guarded<Replay>));
  exports.Set("programDifference", Napi::Function::New(env, Guarded<ProgramDifference>));
  exports.Set("programDispose", Napi::Function::New(env, Guarded<ProgramDispose>));
  return exports;
}

}  // namespace

NODE_API_MODULE(genlab_torch, Init)
