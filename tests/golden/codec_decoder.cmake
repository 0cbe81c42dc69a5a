qwen3tts_add_test(NAME codec_decoder_golden_tests LABEL golden
  SOURCES golden/codec_decoder_golden_test.cc
  LIBS qwen3tts_codec)
