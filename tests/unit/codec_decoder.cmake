qwen3tts_add_test(NAME codec_decoder_unit_tests LABEL unit
  SOURCES unit/codec_decoder_streaming_test.cc
  LIBS qwen3tts_codec)
# The bfloat16 convolution tests once more with the AMX tiles turned off, so that a CPU with tiles
# also checks the path every other CPU takes (oneDNN's convolutions, one frame per pass). Skipped
# (exit 77) where the test executable is not built, as in the sanitizer build's subset.
add_test(NAME codec_decoder_unit_tests.Bfloat16ConvolutionsWithoutAmxTiles
  COMMAND sh -c "test -x \"$0\" || exit 77; exec \"$0\" --gtest_filter=$1" $<TARGET_FILE:codec_decoder_unit_tests>
          CodecDecoderTest.Bfloat16ConvolutionsStreamExactlyAndStayCloseToFloat32)
set_tests_properties(codec_decoder_unit_tests.Bfloat16ConvolutionsWithoutAmxTiles PROPERTIES
  LABELS unit TIMEOUT 600 ENVIRONMENT QWEN3TTS_AMX=0 SKIP_RETURN_CODE 77)
