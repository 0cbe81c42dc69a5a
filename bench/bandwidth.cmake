# Memory streaming bandwidth (read), the bound for weight-streaming decoders; used by bench/run.sh.
add_executable(qwen3tts-bench-bandwidth ${CMAKE_CURRENT_LIST_DIR}/bandwidth_bench.cc)
find_package(Threads REQUIRED)
target_link_libraries(qwen3tts-bench-bandwidth PRIVATE Threads::Threads)
