qwen3tts_add_test(NAME audio_file_unit_tests LABEL unit
  SOURCES unit/audio_file_test.cc
  LIBS qwen3tts_audio)
