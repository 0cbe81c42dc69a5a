qwen3tts_add_test(NAME openai_request_unit_tests LABEL unit
  SOURCES unit/openai_request_test.cc
  LIBS qwen3tts_gateway_service)
