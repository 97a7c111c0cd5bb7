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
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kernels.h"

namespace genlab::capture {

enum class Kind { kOperator, kConstant, kAdam, kGroupNorm, kPad, kFree };

// Where an operator call's tensor argument goes in its stack, and which registers fill it.
struct TensorArgument {
  enum class Shape { kTensor, kList, kOptionalList };
  size_t position;
  Shape shape;
  std::vector<int32_t> registers;  // −1: None, in an optional list
};

struct Instruction {
  Kind kind;
  std::string name;  // for messages
  std::optional<c10::OperatorHandle> op;  // kOperator
  torch::jit::Stack constants;  // kOperator: its stack, None where tensors go
  std::vector<TensorArgument> tensors;  // kOperator
  std::vector<int32_t> inputs;  // the addon's kernels and kFree: registers read
  std::vector<int64_t> ints;  // the addon's kernels' parameters
  std::vector<double> numbers;
  at::Tensor value;  // kConstant
  std::vector<int32_t> outputs;  // registers written, in the order the results come
  std::string returned;  // kOperator: its non-tensor results, which a replay must see again
  std::string signature;  // all of the above but tensor values, for Difference
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
  std::vector<Instruction> instructions;
  int32_t registers = 0;
  std::vector<External> externals;
  std::vector<int32_t> variables;  // the caller's variable indices that the program reads or writes
  std::vector<std::pair<int32_t, int32_t>> writebacks;  // (index into variables, register of its new value)
  std::vector<int32_t> outputs;  // registers
  size_t inputs = 0;  // how many inputs a replay takes
};

// ---- signatures ------------------------------------------------------------------------------

inline void AppendDouble(std::string& out, double value) {
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  out += std::to_string(bits);
}

// A non-tensor value as text that differs whenever the value does (doubles by their bits).
inline void AppendValue(std::string& out, const c10::IValue& value) {
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

inline std::string Registers(const std::vector<int32_t>& registers) {
  std::string out = "(";
  for (int32_t r : registers) out += std::to_string(r) + ",";
  return out + ")";
}

inline std::string SignatureOf(const Instruction& ins) {
  std::string out = std::to_string(static_cast<int>(ins.kind)) + " " + ins.name + " ";
  for (const auto& c : ins.constants) AppendValue(out, c), out += ";";
  for (const auto& t : ins.tensors) out += std::to_string(t.position) + Registers(t.registers);
  out += Registers(ins.inputs);
  for (int64_t i : ins.ints) out += std::to_string(i) + ",";
  for (double d : ins.numbers) AppendDouble(out, d), out += ",";
  if (ins.value.defined()) {
    out += c10::toString(ins.value.scalar_type());
    for (int64_t s : ins.value.sizes()) out += "x" + std::to_string(s);
  }
  return out + "->" + Registers(ins.outputs) + ins.returned;
}

// ---- recording -------------------------------------------------------------------------------

class Recording {
 public:
  // The register of a tensor argument: the one its slot was given, or a new external one.
  int32_t RegisterOf(int32_t slot, const at::Tensor& tensor) {
    auto found = register_of_slot_.find(slot);
    if (found != register_of_slot_.end()) return found->second;
    const int32_t reg = program_.registers++;
    register_of_slot_[slot] = reg;
    program_.externals.push_back({slot, reg, Role::kConstant, -1, tensor});
    return reg;
  }

  // A new tensor was kept in `slot` (results of the instruction being recorded, in order).
  void Produced(int32_t slot) {
    const int32_t reg = program_.registers++;
    register_of_slot_[slot] = reg;
    produced_.push_back(reg);
  }

  // `slot` was disposed: so is its register at this point of a replay.
  void Freed(int32_t slot) {
    auto found = register_of_slot_.find(slot);
    if (found == register_of_slot_.end()) return;  // made before the recording and never read in it
    Instruction free{Kind::kFree, "dispose"};
    free.inputs = {found->second};
    register_of_slot_.erase(found);
    Add(std::move(free));
  }

  // Adds an instruction whose results are the tensors produced since the last one.
  void Add(Instruction ins) {
    ins.outputs = std::move(produced_);
    produced_.clear();
    ins.signature = SignatureOf(ins);
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
  std::unordered_map<int32_t, int32_t> register_of_slot_;
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
    const std::string where = "native call " + std::to_string(i + 1) + " (" + x.name + ")";
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
  throw std::runtime_error("replaying a captured step: " + ins.name + " " + what + " than when it was recorded");
}

inline void RunOperator(const Instruction& ins, std::vector<at::Tensor>& regs) {
  torch::jit::Stack stack = ins.constants;
  for (const TensorArgument& t : ins.tensors) {
    switch (t.shape) {
      case TensorArgument::Shape::kTensor:
        stack[t.position] = regs[t.registers[0]];
        break;
      case TensorArgument::Shape::kList: {
        c10::List<at::Tensor> list;
        list.reserve(t.registers.size());
        for (int32_t r : t.registers) list.push_back(regs[r]);
        stack[t.position] = std::move(list);
        break;
      }
      case TensorArgument::Shape::kOptionalList: {
        c10::List<c10::optional<at::Tensor>> list;
        for (int32_t r : t.registers) list.push_back(r < 0 ? c10::optional<at::Tensor>() : c10::optional<at::Tensor>(regs[r]));
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
  if (returned != ins.returned) Diverged(ins, "returned other values");
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
      results({PadNhwc(regs[ins.inputs.at(0)], ins.ints)});
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
