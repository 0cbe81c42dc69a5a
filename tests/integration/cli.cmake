qwen3tts_add_test(NAME cli_integration_tests LABEL integration
  SOURCES integration/cli_test.cc
  LIBS qwen3tts_audio)
add_dependencies(cli_integration_tests qwen3-tts)
target_compile_definitions(cli_integration_tests PRIVATE QWEN3TTS_CLI="$<TARGET_FILE:qwen3-tts>")
