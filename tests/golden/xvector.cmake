qwen3tts_add_test(NAME golden_xvector_tests LABEL golden
  SOURCES golden/xvector_golden_test.cc
  LIBS qwen3tts_codec qwen3tts_audio)
