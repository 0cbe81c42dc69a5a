# Smoke test of the load generator against a real three-stage stack (tiny model, 2 streams, 4 s).
# The servers are started by the script on 127.0.0.1 with kernel-chosen ports; the model comes from
# $QWEN3TTS_GOLDEN_DIR, with the configured default as fallback.
add_test(NAME load_client_smoke
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/load_smoke.sh
    $<TARGET_FILE:qwen3-tts-talker> $<TARGET_FILE:qwen3-tts-vocoder> $<TARGET_FILE:qwen3-tts-gateway>
    $<TARGET_FILE:qwen3-tts-load> ${QWEN3TTS_DEFAULT_GOLDEN_DIR})
set_tests_properties(load_client_smoke PROPERTIES LABELS integration TIMEOUT 180)
