qwen3tts_add_test(NAME talker_unit_tests LABEL unit
  SOURCES unit/talker_sampling_test.cc unit/talker_generation_test.cc
  LIBS qwen3tts_talker)
# Its own executable: it replaces the global operator new to count allocations.
qwen3tts_add_test(NAME talker_hot_path_unit_tests LABEL unit
  SOURCES unit/talker_hot_path_test.cc
  LIBS qwen3tts_talker)
