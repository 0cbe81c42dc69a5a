add_executable(qwen3tts-bench-talker ${CMAKE_CURRENT_LIST_DIR}/talker_bench.cc)
target_link_libraries(qwen3tts-bench-talker PRIVATE qwen3tts_talker)
