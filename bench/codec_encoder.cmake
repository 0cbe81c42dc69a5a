add_executable(qwen3tts-bench-codec-encoder ${CMAKE_CURRENT_LIST_DIR}/codec_encoder_bench.cc)
target_link_libraries(qwen3tts-bench-codec-encoder PRIVATE qwen3tts_codec)
