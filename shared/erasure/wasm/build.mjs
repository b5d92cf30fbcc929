// Builds the WebAssembly SIMD Reed-Solomon kernel from its source (filled in by the erasure module).
