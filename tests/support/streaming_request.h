// The first message of a StreamingSynthesize call that the integration tests stream text after.
#pragma once

#include "qwen3tts/v1/tts.pb.h"

namespace qwen3tts::testing {

// Preset speaker Ryan in English, greedy without repetition penalty (the tiny golden model keeps
// generating through the tests' sentences with it), at most 4 seconds of audio.
inline v1::StreamingSynthesizeRequest GreedyStreamingConfig() {
  v1::StreamingSynthesizeRequest config;
  config.mutable_config()->mutable_voice()->set_speaker("ryan");
  config.mutable_config()->set_language("english");
  config.mutable_config()->mutable_sampling()->set_greedy(true);
  config.mutable_config()->mutable_sampling()->set_repetition_penalty(1.0f);
  config.mutable_config()->set_max_duration_seconds(4.0f);
  return config;
}

}  // namespace qwen3tts::testing
