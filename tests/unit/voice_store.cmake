qwen3tts_add_test(NAME voice_store_unit_tests LABEL unit
  SOURCES unit/voice_store_test.cc
  LIBS qwen3tts_voice)
