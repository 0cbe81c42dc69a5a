qwen3tts_add_test(NAME vocoder_integration_tests LABEL integration
  SOURCES integration/vocoder_test.cc
  LIBS qwen3tts_proto qwen3tts_rpc)
qwen3tts_uses_stage_binaries(vocoder_integration_tests)
