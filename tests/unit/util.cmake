qwen3tts_add_test(NAME util_unit_tests LABEL unit
  SOURCES unit/compute_gate_test.cc
  LIBS qwen3tts_util)
