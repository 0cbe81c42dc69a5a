qwen3tts_add_test(NAME service_flags_unit_tests LABEL unit
  SOURCES unit/service_flags_test.cc
  LIBS qwen3tts_service_common)
target_compile_definitions(service_flags_unit_tests PRIVATE QWEN3TTS_DEPLOY_CONFIG_DIR="${CMAKE_SOURCE_DIR}/deploy/config")
