qwen3tts_add_test(NAME golden_model_loading_tests LABEL golden
  SOURCES golden/model_loading_test.cc
  LIBS qwen3tts_tensor)
