qwen3tts_add_test(NAME talker_unit_tests LABEL unit
  SOURCES unit/talker_sampling_test.cc unit/talker_generation_test.cc
  LIBS qwen3tts_talker)
