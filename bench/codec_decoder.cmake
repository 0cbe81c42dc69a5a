add_executable(qwen3tts-bench-codec-decoder ${CMAKE_CURRENT_LIST_DIR}/codec_decoder_bench.cc)
target_link_libraries(qwen3tts-bench-codec-decoder PRIVATE qwen3tts_codec)
