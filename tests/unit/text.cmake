qwen3tts_add_test(NAME text_unit_tests LABEL unit
  SOURCES unit/text_tokenizer_test.cc
  LIBS qwen3tts_text)
