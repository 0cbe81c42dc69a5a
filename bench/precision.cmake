add_executable(qwen3tts-bench-precision ${CMAKE_CURRENT_LIST_DIR}/precision_bench.cc)
target_link_libraries(qwen3tts-bench-precision PRIVATE qwen3tts_tts nlohmann_json::nlohmann_json)
