qwen3tts_add_test(NAME nn_unit_tests LABEL unit
  SOURCES unit/nn_linear_test.cc unit/nn_bf16_tiles_test.cc unit/nn_parallel_test.cc unit/nn_row_ops_test.cc unit/nn_snake_beta_test.cc
  LIBS qwen3tts_nn)
