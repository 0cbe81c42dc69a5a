// The OpenAI speech request body -> the public Synthesize request, with errors naming the parameter.
#include <gtest/gtest.h>

#include <string>

#include "services/gateway/openai_http.h"

namespace qwen3tts {
namespace {

TEST(OpenAiRequestTest, MapsFieldsPerModelVariant) {
  std::string format;
  auto r = ParseOpenAiSpeechRequest(
      R"({"model":"qwen3-tts","input":"Hi there","voice":"Ryan","response_format":"opus","language":"English","seed":7})",
      ModelVariant::kCustomVoice, &format);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(format, "opus");
  EXPECT_EQ(r->text(), "Hi there");
  EXPECT_EQ(r->config().voice().speaker(), "Ryan");
  EXPECT_EQ(r->config().language(), "English");
  EXPECT_EQ(r->config().audio().encoding(), v1::OGG_OPUS);
  EXPECT_EQ(r->config().sampling().seed(), 7u);

  auto design = ParseOpenAiSpeechRequest(R"({"input":"Hi","instructions":"a calm low voice"})", ModelVariant::kVoiceDesign,
                                         &format);
  ASSERT_TRUE(design.ok()) << design.status();
  EXPECT_EQ(format, "mp3");  // OpenAI's default
  EXPECT_EQ(design->config().voice().design(), "a calm low voice");

  auto clone = ParseOpenAiSpeechRequest(R"({"input":"Hi","voice":"v-123"})", ModelVariant::kBase, &format);
  ASSERT_TRUE(clone.ok()) << clone.status();
  EXPECT_EQ(clone->config().voice().voice_id(), "v-123");
}

TEST(OpenAiRequestTest, BadBodiesNameTheParameter) {
  std::string format;
  struct Case {
    std::string body;
    std::string mentions;
  } cases[] = {
      {"caf\xc3(\xff", "UTF-8"},
      {R"({"input":"caf)" "\xff" R"("})", "UTF-8"},
      {"[1,2]", "JSON object"},
      {R"({"voice":"ryan"})", "input"},
      {R"({"input":"hi"})", "voice"},
      {R"({"input":"hi","voice":"ryan","response_format":"flac"})", "mp3, opus, wav, pcm"},
      {R"({"input":"hi","voice":"ryan","speed":1.5})", "speed"},
      {R"({"input":"hi","voice":"ryan","temperature":"hot"})", "temperature"},
      {R"({"input":42,"voice":"ryan"})", "input"},
  };
  for (const Case& c : cases) {
    auto r = ParseOpenAiSpeechRequest(c.body, ModelVariant::kCustomVoice, &format);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.body;
    EXPECT_NE(r.status().message().find(c.mentions), std::string::npos) << c.body << " -> " << r.status().message();
  }
}

}  // namespace
}  // namespace qwen3tts
