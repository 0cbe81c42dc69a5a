# Linear-layer kernels side by side (GEMM, per-row GEMV, the float32 and int8 row kernels).
add_executable(qwen3tts-bench-linear ${CMAKE_CURRENT_LIST_DIR}/linear_bench.cc)
target_link_libraries(qwen3tts-bench-linear PRIVATE qwen3tts_nn absl::strings)
