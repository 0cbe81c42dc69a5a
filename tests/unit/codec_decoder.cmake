qwen3tts_add_test(NAME codec_decoder_unit_tests LABEL unit
  SOURCES unit/codec_decoder_streaming_test.cc
  LIBS qwen3tts_codec)
