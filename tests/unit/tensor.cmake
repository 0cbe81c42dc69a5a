qwen3tts_add_test(NAME tensor_unit_tests LABEL unit
  SOURCES unit/tensor_safetensors_test.cc unit/tensor_config_test.cc
  LIBS qwen3tts_tensor)
