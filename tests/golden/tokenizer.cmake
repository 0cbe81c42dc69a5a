qwen3tts_add_test(NAME golden_tokenizer_tests LABEL golden
  SOURCES golden/tokenizer_golden_test.cc
  LIBS qwen3tts_text)
