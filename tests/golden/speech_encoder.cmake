qwen3tts_add_test(NAME golden_speech_encoder_tests LABEL golden
  SOURCES golden/speech_encoder_golden_test.cc
  LIBS qwen3tts_codec)
