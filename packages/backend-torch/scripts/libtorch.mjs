// Finds the LibTorch to build the addon against: the folder named by LIBTORCH (the official
// archive, or the `torch/` folder of a pip install, which brings CUDA), else Debian's
// `libtorch-dev`. Shared by the install script and binding.gyp (through gyp-config.mjs).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const DEBIAN_LIB_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib'];

/**
 * @returns {{ source: string, includeDirs: string[], libDir: string, cuda: boolean, cxx11Abi: string | undefined }
 *   | { source: undefined, reason: string }}
 */
export function findLibTorch(env = process.env) {
  const folder = env.LIBTORCH?.trim();
  if (folder) {
    const libDir = join(folder, 'lib');
    if (!existsSync(join(folder, 'include', 'ATen', 'ATen.h')) || !existsSync(join(libDir, 'libtorch_cpu.so')))
      return { source: undefined, reason: `LIBTORCH=${folder} holds no include/ATen/ATen.h and lib/libtorch_cpu.so` };
    return {
      source: `LIBTORCH=${folder}`,
      includeDirs: [join(folder, 'include'), join(folder, 'include', 'torch', 'csrc', 'api', 'include')],
      libDir,
      cuda: existsSync(join(libDir, 'libtorch_cuda.so')),
      cxx11Abi: cxx11AbiOf(folder),
    };
  }
  if (existsSync('/usr/include/ATen/ATen.h')) {
    const libDir = DEBIAN_LIB_DIRS.find((dir) => existsSync(join(dir, 'libtorch_cpu.so')));
    if (libDir !== undefined)
      return {
        source: `system LibTorch (${libDir})`,
        includeDirs: ['/usr/include', '/usr/include/torch/csrc/api/include'],
        libDir,
        cuda: existsSync(join(libDir, 'libtorch_cuda.so')),
        cxx11Abi: undefined,
      };
  }
  return {
    source: undefined,
    reason: 'no LibTorch found: set LIBTORCH to a LibTorch folder, or `apt-get install libtorch-dev libopenblas0-pthread` (Debian/Ubuntu)',
  };
}

/** The _GLIBCXX_USE_CXX11_ABI value a LibTorch folder was built with (pip wheels vary). */
function cxx11AbiOf(folder) {
  for (const file of ['share/cmake/Torch/TorchConfig.cmake', 'share/cmake/Caffe2/Caffe2Targets.cmake']) {
    const path = join(folder, file);
    if (!existsSync(path)) continue;
    const match = /_GLIBCXX_USE_CXX11_ABI=([01])/.exec(readFileSync(path, 'utf8'));
    if (match) return match[1];
  }
  return undefined;
}
