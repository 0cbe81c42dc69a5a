qwen3tts_add_test(NAME audio_encoder_unit_tests LABEL unit
  SOURCES unit/audio_encoder_test.cc
  LIBS qwen3tts_audio)
