qwen3tts_add_test(NAME serve_client_integration_tests LABEL integration
  SOURCES integration/serve_client_test.cc
  LIBS qwen3tts_audio)
add_dependencies(serve_client_integration_tests qwen3-tts qwen3-tts-client)
target_compile_definitions(serve_client_integration_tests PRIVATE
  QWEN3TTS_CLI="$<TARGET_FILE:qwen3-tts>" QWEN3TTS_CLIENT="$<TARGET_FILE:qwen3-tts-client>")
