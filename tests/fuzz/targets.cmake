# Fuzz targets for text, audio, service config and request validation (see README.md here).
# The golden tiny models are found through $QWEN3TTS_GOLDEN_DIR or this compiled-in default.
qwen3tts_add_fuzzer(fuzz_text_tokenizer SOURCES text_tokenizer_fuzzer.cc LIBS qwen3tts_text)
qwen3tts_add_fuzzer(fuzz_audio_decode SOURCES audio_decode_fuzzer.cc LIBS qwen3tts_audio)
qwen3tts_add_fuzzer(fuzz_service_flags SOURCES service_flags_fuzzer.cc LIBS qwen3tts_service_common)
qwen3tts_add_fuzzer(fuzz_talker_request SOURCES talker_request_fuzzer.cc LIBS qwen3tts_service_common qwen3tts_talker)
foreach(target fuzz_text_tokenizer fuzz_talker_request)
  target_include_directories(${target} PRIVATE ${QWEN3TTS_INCLUDE_ROOT})
  target_compile_definitions(${target} PRIVATE QWEN3TTS_DEFAULT_GOLDEN_DIR="${QWEN3TTS_DEFAULT_GOLDEN_DIR}")
endforeach()
