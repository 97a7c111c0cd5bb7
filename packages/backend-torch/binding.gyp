{
  "targets": [
    {
      "target_name": "genlab_torch",
      "sources": ["native/addon.cc"],
      "include_dirs": ["<!@(node -p \"require('node-addon-api').include_dir\")", "<!@(node scripts/gyp-config.mjs include_dirs)"],
      "libraries": ["<!@(node scripts/gyp-config.mjs libraries)"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "<!@(node scripts/gyp-config.mjs defines)"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O2", "-ffp-contract=off", "-fno-math-errno", "-Wno-unused-parameter"]
    }
  ]
}
