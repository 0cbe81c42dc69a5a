qwen3tts_add_test(NAME random_model_unit_tests LABEL unit
  SOURCES unit/random_model_test.cc
  LIBS qwen3tts_tts)
