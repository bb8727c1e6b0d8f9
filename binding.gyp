{
  "variables": {
    "heed_portable%": "<!(node -p \"process.env.HEED_PORTABLE === '1' ? 1 : 0\")"
  },
  "targets": [
    {
      "target_name": "heed_native",
      "sources": ["native/addon.cc", "native/gemm.cc", "native/ops.cc", "native/gemv.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions", "-O2", "-O3"],
      "cflags_cc!": ["-fno-exceptions", "-O2"],
      "cflags_cc": ["-O3", "-fopenmp", "-ffp-contract=fast", "-std=c++17", "-fno-math-errno"],
      "ldflags": ["-fopenmp"],
      "conditions": [
        ["heed_portable==0", { "cflags_cc": ["-march=native", "-mtune=native"] }]
      ]
    }
  ]
}
