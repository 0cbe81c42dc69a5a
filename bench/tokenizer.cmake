add_executable(qwen3tts-bench-tokenizer ${CMAKE_CURRENT_LIST_DIR}/tokenizer_bench.cc)
target_link_libraries(qwen3tts-bench-tokenizer PRIVATE qwen3tts_text)
