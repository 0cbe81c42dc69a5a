qwen3tts_add_test(NAME golden_talker_tests LABEL golden
  SOURCES golden/talker_golden_test.cc
  LIBS qwen3tts_talker qwen3tts_text)
