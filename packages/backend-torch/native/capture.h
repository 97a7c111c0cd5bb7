// Step capture. While a recording is on, the addon notes each call that makes tensors (operators,
// its own kernels, uploads, random draws) with its tensor arguments as registers instead of slot
// ids. The finished recording, a Program, runs again on other inputs with no JavaScript in the
// loop: one N-API call for a whole training step instead of tfjs's engine around every kernel.
//
// What a program holds fixed: every non-tensor argument, every uploaded or drawn value, and every
// tensor it read that was made before the recording and is neither a declared input nor a
// variable. Two recordings of the same step must therefore agree (Difference), or the step
// depends on something else and cannot be replayed.
#pragma once

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/InferenceMode.h>

#include <cstdint>
#include <memory>
#include <memory_resource>
#include <string_view>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kernels.h"

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#endif

namespace genlab::capture {

// ---- where a program keeps its data ------------------------------------------------------------

// Pages mapped for a program alone, not taken from the malloc heap that LibTorch's CPU tensors come
// from. A program is ~10 small allocations per native call, made while the step's activations are
// live and kept for as long as the step replays. From the heap they split it: each kept program of
// a unet-tiny training step (6,142 calls) left ~235 MB of the heap free but too fragmented for the
// next step's tensors, so resident memory grew by that much per program (mallinfo2, scratch loop).
class MappedPages final : public std::pmr::memory_resource {
  void* do_allocate(size_t bytes, size_t alignment) override {
#if defined(__unix__) || defined(__APPLE__)
    void* pages = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pages == MAP_FAILED) throw std::bad_alloc();
    return pages;
#else
    return std::pmr::new_delete_resource()->allocate(bytes, alignment);
#endif
  }
  void do_deallocate(void* pages, size_t bytes, size_t alignment) override {
#if defined(__unix__) || defined(__APPLE__)
    (void)alignment;
    munmap(pages, bytes);
#else
    std::pmr::new_delete_resource()->deallocate(pages, bytes, alignment);
#endif
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }
};

// A program's memory: a monotonic buffer over mapped pages, freed with the program.
class Arena {
 public:
  Arena() : pages_(std::make_unique<MappedPages>()), buffer_(std::make_unique<std::pmr::monotonic_buffer_resource>(1 << 16, pages_.get())) {}
  std::pmr::memory_resource* get() const { return buffer_.get(); }

 private:
  std::unique_ptr<MappedPages> pages_;  // declared first: the buffer returns its pages to it
  std::unique_ptr<std::pmr::monotonic_buffer_resource> buffer_;
};

// ---- what a program holds ------------------------------------------------------------------------

enum class Kind { kOperator, kConstant, kAdam, kGroupNorm, kPad, kFree };

// Where an operator call's tensor argument goes in its stack; its registers are
// Instruction::tensor_registers[begin, begin + size) (−1: None, in an optional list).
struct TensorArgument {
  enum class Shape { kTensor, kList, kOptionalList };
  size_t position;
  Shape shape;
  size_t begin, size;
};

// An int-list argument at `position` (a stride, a shape): Instruction::list_values[begin, begin + size).
struct IntListArgument {
  size_t position, begin, size;
};

struct Instruction {
  explicit Instruction(Kind kind, std::string_view name, std::pmr::memory_resource* memory = std::pmr::get_default_resource())
      : kind(kind), name(name, memory), constants(memory), int_lists(memory), list_values(memory), tensors(memory),
        tensor_registers(memory), inputs(memory), ints(memory), numbers(memory), outputs(memory), returned(memory),
        signature(memory) {}

  Kind kind;
  std::pmr::string name;  // for messages
  std::optional<c10::OperatorHandle> op;  // kOperator
  std::pmr::vector<c10::IValue> constants;  // kOperator: its stack, None where tensors and int lists go
  std::pmr::vector<IntListArgument> int_lists;  // kOperator
  std::pmr::vector<int64_t> list_values;
  std::pmr::vector<TensorArgument> tensors;  // kOperator
  std::pmr::vector<int32_t> tensor_registers;
  std::pmr::vector<int32_t> inputs;  // the addon's kernels and kFree: registers read
  std::pmr::vector<int64_t> ints;  // the addon's kernels' parameters
  std::pmr::vector<double> numbers;
  at::Tensor value;  // kConstant
  std::pmr::vector<int32_t> outputs;  // registers written, in the order the results come
  std::pmr::string returned;  // kOperator: its non-tensor results, which a replay must see again
  std::pmr::string signature;  // all of the above but tensor values, for Difference
};

enum class Role { kInput, kVariable, kConstant };

// A tensor made before the recording and read by it.
struct External {
  int32_t slot;  // its slot id while recording
  int32_t reg;
  Role role = Role::kConstant;
  int32_t index = -1;  // kInput: which input; kVariable: which of Program::variables
  at::Tensor pinned;  // kConstant: the tensor itself, held by the program
};

struct Program {
  Arena arena;  // first: the containers below allocate from it
  std::pmr::vector<Instruction> instructions{arena.get()};
  int32_t registers = 0;
  std::pmr::vector<External> externals{arena.get()};
  std::pmr::vector<int32_t> variables{arena.get()};  // the caller's variable indices that the program reads or writes
  std::pmr::vector<std::pair<int32_t, int32_t>> writebacks{arena.get()};  // (index into variables, register of its new value)
  std::pmr::vector<int32_t> outputs{arena.get()};  // registers
  size_t inputs = 0;  // how many inputs a replay takes
};

// ---- signatures ------------------------------------------------------------------------------

template <typename String>
void AppendDouble(String& out, double value) {
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  out += std::to_string(bits);
}

// A non-tensor value as text that differs whenever the value does (doubles by their bits).
template <typename String>
void AppendValue(String& out, const c10::IValue& value) {
  if (value.isNone()) out += "None";
  else if (value.isInt()) out += "i" + std::to_string(value.toInt());
  else if (value.isDouble()) AppendDouble(out += "d", value.toDouble());
  else if (value.isBool()) out += value.toBool() ? "true" : "false";
  else if (value.isString()) out += "s" + value.toStringRef();
  else if (value.isDevice()) out += "device " + value.toDevice().str();
  else if (value.isIntList()) {
    out += "[";
    for (int64_t i : value.toIntVector()) out += std::to_string(i) + ",";
    out += "]";
  } else if (value.isDoubleList()) {
    out += "[";
    for (double d : value.toDoubleVector()) AppendDouble(out, d), out += ",";
    out += "]";
  } else if (value.isBoolList()) {
    out += "[";
    for (bool b : value.toBoolList()) out += b ? "1," : "0,";
    out += "]";
  } else out += std::string("<") + value.tagKind() + ">";
}

template <typename Values>
std::string Listed(const Values& values) {
  std::string out = "(";
  for (auto v : values) out += std::to_string(v) + ",";
  return out + ")";
}

inline std::string SignatureOf(const Instruction& ins) {
  std::string out = std::to_string(static_cast<int>(ins.kind)) + " " + std::string(ins.name) + " ";
  for (const auto& c : ins.constants) AppendValue(out, c), out += ";";
  for (const auto& l : ins.int_lists) out += std::to_string(l.position) + ":" + std::to_string(l.begin) + "+" + std::to_string(l.size);
  out += Listed(ins.list_values);
  for (const auto& t : ins.tensors)
    out += std::to_string(t.position) + "/" + std::to_string(static_cast<int>(t.shape)) + ":" + std::to_string(t.begin) + "+" +
           std::to_string(t.size);
  out += Listed(ins.tensor_registers) + Listed(ins.inputs) + Listed(ins.ints);
  for (double d : ins.numbers) AppendDouble(out, d), out += ",";
  if (ins.value.defined()) {
    out += c10::toString(ins.value.scalar_type());
    for (int64_t s : ins.value.sizes()) out += "x" + std::to_string(s);
  }
  return out + "->" + Listed(ins.outputs) + std::string(ins.returned);
}

// ---- recording -------------------------------------------------------------------------------

class Recording {
 public:
  // A new instruction whose containers live in the program's arena.
  Instruction Make(Kind kind, std::string_view name) { return Instruction(kind, name, program_.arena.get()); }

  // The register of a tensor argument: the one its slot was given, or a new external one.
  int32_t RegisterOf(int32_t slot, const at::Tensor& tensor) {
    if (const int32_t known = Lookup(slot); known >= 0) return known;
    const int32_t reg = program_.registers++;
    Assign(slot, reg);
    program_.externals.push_back({slot, reg, Role::kConstant, -1, tensor});
    return reg;
  }

  // A new tensor was kept in `slot` (results of the instruction being recorded, in order).
  void Produced(int32_t slot) {
    const int32_t reg = program_.registers++;
    Assign(slot, reg);
    produced_.push_back(reg);
  }

  // `slot` was disposed: so is its register at this point of a replay.
  void Freed(int32_t slot) {
    const int32_t reg = Lookup(slot);
    if (reg < 0) return;  // made before the recording and never read in it
    Instruction free = Make(Kind::kFree, "dispose");
    free.inputs.push_back(reg);
    Assign(slot, -1);
    Add(std::move(free));
  }

  // Adds an instruction (made by `Make`) whose results are the tensors produced since the last one.
  void Add(Instruction ins) {
    ins.outputs.assign(produced_.begin(), produced_.end());
    produced_.clear();
    const std::string signature = SignatureOf(ins);
    ins.signature.assign(signature);
    program_.instructions.push_back(std::move(ins));
  }

  // The program, its externals given roles: inputs by slot, variables by their slot before the
  // step; variables whose slot changed get their new value written back. `tensor_of(slot)`: a
  // live slot's tensor (for a result that was made before the recording).
  template <typename TensorOf>
  Program Finish(const std::vector<int32_t>& variables_before, const std::vector<int32_t>& variables_after,
                 const std::vector<int32_t>& inputs, const std::vector<int32_t>& outputs, TensorOf tensor_of) {
    if (variables_before.size() != variables_after.size())
      throw std::invalid_argument("captureEnd: one slot before and one after per variable");
    std::unordered_map<int32_t, int32_t> compact;  // caller's variable index → index in program.variables
    auto variable = [&](int32_t k) {
      auto [it, added] = compact.try_emplace(k, static_cast<int32_t>(program_.variables.size()));
      if (added) program_.variables.push_back(k);
      return it->second;
    };
    for (size_t k = 0; k < variables_after.size(); k++) {
      if (variables_after[k] == variables_before[k]) continue;
      const int32_t slot = variables_after[k];
      program_.writebacks.emplace_back(variable(static_cast<int32_t>(k)), RegisterOf(slot, tensor_of(slot)));
    }
    for (int32_t slot : outputs) program_.outputs.push_back(RegisterOf(slot, tensor_of(slot)));
    program_.inputs = inputs.size();
    std::unordered_map<int32_t, int32_t> input_of_slot, variable_of_slot;
    for (size_t j = 0; j < inputs.size(); j++) input_of_slot.emplace(inputs[j], static_cast<int32_t>(j));
    for (size_t k = 0; k < variables_before.size(); k++) variable_of_slot.emplace(variables_before[k], static_cast<int32_t>(k));
    for (External& e : program_.externals) {
      if (auto in = input_of_slot.find(e.slot); in != input_of_slot.end()) {
        e.role = Role::kInput;
        e.index = in->second;
      } else if (auto var = variable_of_slot.find(e.slot); var != variable_of_slot.end()) {
        e.role = Role::kVariable;
        e.index = variable(var->second);
      } else {
        continue;  // a constant: keeps its tensor
      }
      e.pinned = at::Tensor();
    }
    return std::move(program_);
  }

 private:
  int32_t Lookup(int32_t slot) const {
    return slot >= 0 && static_cast<size_t>(slot) < register_of_slot_.size() ? register_of_slot_[slot] : -1;
  }
  void Assign(int32_t slot, int32_t reg) {
    if (static_cast<size_t>(slot) >= register_of_slot_.size()) register_of_slot_.resize(slot + 1024, -1);
    register_of_slot_[slot] = reg;
  }

  std::vector<int32_t> register_of_slot_;  // by slot id (dense, small): −1 where none
  std::vector<int32_t> produced_;
  Program program_;
};

// ---- comparing two recordings ------------------------------------------------------------------

// Why two recordings of one step differ, or "" when a replay of either would do the same work.
inline std::string Difference(const Program& a, const Program& b) {
  if (a.instructions.size() != b.instructions.size())
    return "the step made " + std::to_string(a.instructions.size()) + " native calls once and " +
           std::to_string(b.instructions.size()) + " the next time: its work depends on more than its inputs and variables";
  for (size_t i = 0; i < a.instructions.size(); i++) {
    const Instruction &x = a.instructions[i], &y = b.instructions[i];
    const std::string where = "native call " + std::to_string(i + 1) + " (" + std::string(x.name) + ")";
    if (x.signature != y.signature)
      return where + " differs between two steps in its non-tensor arguments, results or operands (a number computed in JavaScript " +
             "that changes from step to step?)";
    if (x.kind == Kind::kConstant && !at::equal(x.value, y.value))
      return where + " uploads or draws different values on each step (a tensor made from JavaScript values, or a random draw, " +
             "inside the step): pass it in as an input";
  }
  if (a.externals.size() != b.externals.size()) return "the two steps read different numbers of tensors made before them";
  for (size_t e = 0; e < a.externals.size(); e++) {
    const External &x = a.externals[e], &y = b.externals[e];
    if (x.reg != y.reg || x.role != y.role || x.index != y.index)
      return "the two steps read their inputs, variables and other tensors in different places";
    if (x.role == Role::kConstant && !x.pinned.is_same(y.pinned))
      return "the step reads a tensor made before it that is neither an input nor a variable, and differs from step to step: pass it in as an input";
  }
  if (a.variables != b.variables || a.writebacks != b.writebacks || a.outputs != b.outputs || a.inputs != b.inputs)
    return "the two steps update different variables or return different tensors";
  return "";
}

// ---- replaying -----------------------------------------------------------------------------

struct Replayed {
  std::vector<at::Tensor> outputs;
  std::vector<at::Tensor> variables;  // new values, in the order of Program::writebacks
};

[[noreturn]] inline void Diverged(const Instruction& ins, const std::string& what) {
  throw std::runtime_error("replaying a captured step: " + std::string(ins.name) + " " + what + " than when it was recorded");
}

inline void RunOperator(const Instruction& ins, std::vector<at::Tensor>& regs) {
  torch::jit::Stack stack(ins.constants.begin(), ins.constants.end());
  for (const IntListArgument& l : ins.int_lists) {
    c10::List<int64_t> list;
    list.reserve(l.size);
    for (size_t i = l.begin; i < l.begin + l.size; i++) list.push_back(ins.list_values[i]);
    stack[l.position] = std::move(list);
  }
  for (const TensorArgument& t : ins.tensors) {
    const int32_t* registers = ins.tensor_registers.data() + t.begin;
    switch (t.shape) {
      case TensorArgument::Shape::kTensor:
        stack[t.position] = regs[registers[0]];
        break;
      case TensorArgument::Shape::kList: {
        c10::List<at::Tensor> list;
        list.reserve(t.size);
        for (size_t i = 0; i < t.size; i++) list.push_back(regs[registers[i]]);
        stack[t.position] = std::move(list);
        break;
      }
      case TensorArgument::Shape::kOptionalList: {
        c10::List<c10::optional<at::Tensor>> list;
        for (size_t i = 0; i < t.size; i++)
          list.push_back(registers[i] < 0 ? c10::optional<at::Tensor>() : c10::optional<at::Tensor>(regs[registers[i]]));
        stack[t.position] = std::move(list);
        break;
      }
    }
  }
  ins.op->callBoxed(&stack);
  size_t o = 0;
  std::string returned;
  for (const c10::IValue& value : stack) {
    if (value.isTensor()) {
      if (!value.toTensor().defined()) continue;
      if (o >= ins.outputs.size()) Diverged(ins, "returned more tensors");
      regs[ins.outputs[o++]] = value.toTensor();
    } else if (value.isTensorList()) {
      for (const at::Tensor& tensor : value.toTensorVector()) {
        if (o >= ins.outputs.size()) Diverged(ins, "returned more tensors");
        regs[ins.outputs[o++]] = tensor;
      }
    } else {
      AppendValue(returned, value);
    }
  }
  if (o != ins.outputs.size()) Diverged(ins, "returned fewer tensors");
  if (std::string_view(returned) != std::string_view(ins.returned)) Diverged(ins, "returned other values");
}

inline void Run(const Instruction& ins, std::vector<at::Tensor>& regs) {
  auto results = [&](std::vector<at::Tensor> tensors) {
    if (tensors.size() != ins.outputs.size()) Diverged(ins, "made another number of tensors");
    for (size_t i = 0; i < tensors.size(); i++) regs[ins.outputs[i]] = std::move(tensors[i]);
  };
  switch (ins.kind) {
    case Kind::kOperator:
      RunOperator(ins, regs);
      return;
    case Kind::kConstant:
      regs[ins.outputs.at(0)] = ins.value;
      return;
    case Kind::kFree:
      regs[ins.inputs.at(0)] = at::Tensor();
      return;
    case Kind::kAdam: {
      const size_t count = (ins.inputs.size() - 2) / 4;
      std::array<std::vector<at::Tensor>, 4> lists;
      for (size_t k = 0; k < 4; k++)
        for (size_t i = 0; i < count; i++) lists[k].push_back(regs[ins.inputs[k * count + i]]);
      const AdamHyperparameters hyper{ins.numbers.at(0), ins.numbers.at(1), ins.numbers.at(2), ins.numbers.at(3)};
      results(AdamStep(lists, hyper, regs[ins.inputs[4 * count]], regs[ins.inputs[4 * count + 1]]));
      return;
    }
    case Kind::kGroupNorm: {
      auto out = GroupNormNhwc(regs[ins.inputs.at(0)], regs[ins.inputs.at(1)], regs[ins.inputs.at(2)], ins.ints.at(0), ins.numbers.at(0));
      results({std::move(out[0]), std::move(out[1]), std::move(out[2])});
      return;
    }
    case Kind::kPad:
      results({PadNhwc(regs[ins.inputs.at(0)], std::vector<int64_t>(ins.ints.begin(), ins.ints.end()))});
      return;
  }
}

// Runs a program on `variables` (the current values, in Program::variables' order) and `inputs`.
// Nothing outside it changes: the caller stores the variables' new values.
inline Replayed Replay(const Program& program, const std::vector<at::Tensor>& variables, const std::vector<at::Tensor>& inputs) {
  c10::InferenceMode guard;
  std::vector<at::Tensor> regs(program.registers);
  for (const External& e : program.externals) {
    switch (e.role) {
      case Role::kInput: regs[e.reg] = inputs.at(e.index); break;
      case Role::kVariable: regs[e.reg] = variables.at(e.index); break;
      case Role::kConstant: regs[e.reg] = e.pinned; break;
    }
  }
  for (const Instruction& ins : program.instructions) Run(ins, regs);
  Replayed out;
  for (int32_t r : program.outputs) out.outputs.push_back(regs[r]);
  for (const auto& [index, r] : program.writebacks) out.variables.push_back(regs[r]);
  return out;
}

}  // namespace genlab::capture
