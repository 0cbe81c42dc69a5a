qwen3tts_add_test(NAME golden_tts_engine_tests LABEL golden
  SOURCES golden/tts_engine_golden_test.cc
  LIBS qwen3tts_tts)
