qwen3tts_add_test(NAME operations_integration_tests LABEL integration
  SOURCES integration/operations_test.cc
  LIBS qwen3tts_proto qwen3tts_rpc nlohmann_json::nlohmann_json)
add_dependencies(operations_integration_tests qwen3-tts-talker qwen3-tts-vocoder qwen3-tts-gateway)
target_compile_definitions(operations_integration_tests PRIVATE
  QWEN3TTS_TALKER_BIN="$<TARGET_FILE:qwen3-tts-talker>"
  QWEN3TTS_VOCODER_BIN="$<TARGET_FILE:qwen3-tts-vocoder>"
  QWEN3TTS_GATEWAY_BIN="$<TARGET_FILE:qwen3-tts-gateway>"
  QWEN3TTS_DEPLOY_CONFIG_DIR="${CMAKE_SOURCE_DIR}/deploy/config")
