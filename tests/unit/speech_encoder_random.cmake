qwen3tts_add_test(NAME speech_encoder_unit_tests LABEL unit
  SOURCES unit/speech_encoder_random_test.cc
  LIBS qwen3tts_codec)
