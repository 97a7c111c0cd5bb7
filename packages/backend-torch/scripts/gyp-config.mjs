// Prints one setting of the LibTorch build for binding.gyp's <!(...) expansions.
import { findLibTorch } from './libtorch.mjs';

const found = findLibTorch();
if (found.source === undefined) {
  console.error(found.reason);
  process.exit(1);
}
const key = process.argv[2];
const libs = [`-L${found.libDir}`, `-Wl,-rpath,${found.libDir}`, '-lc10', '-ltorch_cpu', '-ltorch'];
// CUDA kernels register themselves when libtorch_cuda loads; nothing references its symbols.
if (found.cuda) libs.push('-Wl,--no-as-needed', '-ltorch_cuda', '-lc10_cuda', '-Wl,--as-needed');
const outputs = {
  include_dirs: found.includeDirs.join(' '),
  libraries: libs.join(' '),
  defines: found.cxx11Abi === undefined ? '' : `_GLIBCXX_USE_CXX11_ABI=${found.cxx11Abi}`,
};
if (!(key in outputs)) {
  console.error(`unknown key ${key}`);
  process.exit(1);
}
console.log(outputs[key]);
