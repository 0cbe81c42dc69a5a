// Talker generation on a random tiny model: request validation, reproducible seeded sampling,
// streaming text input, batch stepping and bfloat16.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/talker/prompt_head_cache.h"
#include "common/talker/random_weights.h"
#include "common/talker/talker_batcher.h"
#include "common/talker/talker_generator.h"
#include "common/tensor/checkpoint.h"
#include "common/tensor/safetensors.h"
#include "tests/support/random_talker.h"

namespace qwen3tts {
namespace {


// A random tiny model written in the official layout, loaded back through the real loader.
class TalkerGenerationTest : public ::testing::Test {
 public:  // the helpers below use the fixture's builders
  static std::shared_ptr<const TalkerModel> Load(ModelVariant variant, const std::string& size,
                                                 WeightPrecision dtype = WeightPrecision::kFloat32) {
    return testing::LoadRandomTalker(variant, size, dtype);
  }
  static std::vector<int64_t> Template(int64_t text_tokens) { return testing::TemplateIds(text_tokens); }

  static TalkerRequest CustomVoiceRequest() {
    TalkerRequest r;
    r.input_ids = Template(6);
    r.speaker = "Ryan";
    r.language = "English";
    r.options.max_new_tokens = 12;
    r.options.min_new_tokens = 12;  // no early EOS: fixed length for comparisons
    return r;
  }
  static TalkerRequest GreedyCustomVoiceRequest() {
    TalkerRequest r = CustomVoiceRequest();
    r.options.talker.do_sample = r.options.code_predictor.do_sample = false;
    return r;
  }
};

TEST_F(TalkerGenerationTest, SeededSamplingIsReproducible) {
  auto model = Load(ModelVariant::kCustomVoice, "1b7");
  TalkerRequest r = CustomVoiceRequest();
  r.options.seed = 1234;
  auto a = GenerateCodes(model, r);
  auto b = GenerateCodes(model, r);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(0), 11);
  EXPECT_TRUE(at::equal(*a, *b));
  r.options.seed = 99;
  auto c = GenerateCodes(model, r);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(at::equal(*a, *c));
}

TEST_F(TalkerGenerationTest, InvalidRequestsNameTheFieldAndTheValidValues) {
  auto model = Load(ModelVariant::kCustomVoice, "1b7");
  TalkerRequest r = CustomVoiceRequest();
  r.speaker = "Nobody";
  auto unknown_speaker = GenerateCodes(model, r);
  EXPECT_EQ(unknown_speaker.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown_speaker.status().message().find("ryan"), std::string::npos) << unknown_speaker.status();

  r = CustomVoiceRequest();
  r.language = "Klingon";
  auto unknown_language = GenerateCodes(model, r);
  EXPECT_EQ(unknown_language.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown_language.status().message().find("english"), std::string::npos);
  EXPECT_NE(unknown_language.status().message().find("auto"), std::string::npos);

  r = CustomVoiceRequest();
  r.input_ids = Template(0);  // empty text
  auto empty = GenerateCodes(model, r);
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(empty.status().message().find("empty"), std::string::npos);

  r = CustomVoiceRequest();
  r.input_ids.push_back(999999999);
  EXPECT_EQ(GenerateCodes(model, r).status().code(), absl::StatusCode::kInvalidArgument);

  r = CustomVoiceRequest();
  r.options.talker.temperature = -1;
  EXPECT_EQ(GenerateCodes(model, r).status().code(), absl::StatusCode::kInvalidArgument);

  r = CustomVoiceRequest();
  r.speaker_embedding = at::zeros({48});
  EXPECT_EQ(GenerateCodes(model, r).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(TalkerGenerationTest, BaseModelValidatesTheSpeakerEmbedding) {
  auto model = Load(ModelVariant::kBase, "1b7");
  TalkerRequest r = CustomVoiceRequest();
  r.speaker = "";
  EXPECT_EQ(GenerateCodes(model, r).status().code(), absl::StatusCode::kInvalidArgument);  // none given
  r.speaker_embedding = at::randn({47});
  EXPECT_EQ(GenerateCodes(model, r).status().code(), absl::StatusCode::kInvalidArgument);  // wrong length
  r.speaker_embedding = at::randn({48});
  r.speaker_embedding[3] = NAN;
  auto nan = GenerateCodes(model, r);
  EXPECT_EQ(nan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(nan.status().message().find("NaN"), std::string::npos);
  r.speaker_embedding = at::randn({48});
  EXPECT_TRUE(GenerateCodes(model, r).ok());
  r.ref_ids = {151644, 77091, 198, 1000, 151645, 198};
  r.ref_codes = at::full({4, 16}, 5000, at::kLong);  // outside the codebooks
  EXPECT_EQ(GenerateCodes(model, r).status().code(), absl::StatusCode::kInvalidArgument);
  r.ref_codes = at::randint(0, 2048, {4, 16}, at::kLong);
  EXPECT_TRUE(GenerateCodes(model, r).ok());
}

TEST_F(TalkerGenerationTest, InstructOnA0b6CustomVoiceModelIsIgnoredWithAWarning) {
  auto model = Load(ModelVariant::kCustomVoice, "0b6");
  TalkerRequest r = CustomVoiceRequest();
  r.instruct_ids = {151644, 872, 198, 2000, 151645, 198};
  auto with = TalkerSequence::Start(model, r);
  ASSERT_TRUE(with.ok()) << with.status();
  ASSERT_EQ((*with)->warnings().size(), 1u);
  EXPECT_NE((*with)->warnings()[0].find("instruct"), std::string::npos);
  // Same output as without the instruction.
  r.options.talker.do_sample = r.options.code_predictor.do_sample = false;
  auto a = GenerateCodes(model, r);
  r.instruct_ids.clear();
  auto b = GenerateCodes(model, r);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(at::equal(*a, *b));
}

TEST_F(TalkerGenerationTest, StreamingTextInputWaitsInsteadOfPadding) {
  auto model = Load(ModelVariant::kCustomVoice, "1b7");
  TalkerRequest full = GreedyCustomVoiceRequest();
  auto expected = GenerateCodes(model, full);
  ASSERT_TRUE(expected.ok());

  // Same text delivered in pieces: role + first token up front, the rest later.
  TalkerRequest open = full;
  open.text_input_open = true;
  open.input_ids.assign(full.input_ids.begin(), full.input_ids.begin() + 4);
  auto seq = TalkerSequence::Start(model, open);
  ASSERT_TRUE(seq.ok()) << seq.status();
  EXPECT_EQ((*seq)->state(), TalkerSequence::State::kWaitingForText);
  auto none = (*seq)->Step();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());  // no frame while waiting
  std::vector<std::vector<int64_t>> frames;
  std::vector<int64_t> text(full.input_ids.begin() + 4, full.input_ids.end() - 5);
  for (size_t i = 0; i < text.size(); ++i) {
    ASSERT_TRUE((*seq)->AppendText({text[i]}).ok());
    ASSERT_EQ((*seq)->state(), TalkerSequence::State::kRunning);
    auto frame = (*seq)->Step();
    ASSERT_TRUE(frame.ok() && frame->has_value());
    frames.push_back(**frame);
    EXPECT_EQ((*seq)->state(), TalkerSequence::State::kWaitingForText);
  }
  (*seq)->CloseText();
  EXPECT_EQ((*seq)->AppendText({5}).code(), absl::StatusCode::kFailedPrecondition);
  while ((*seq)->state() == TalkerSequence::State::kRunning) {
    auto frame = (*seq)->Step();
    ASSERT_TRUE(frame.ok());
    if (frame->has_value()) frames.push_back(**frame);
  }
  ASSERT_EQ(static_cast<int64_t>(frames.size()), expected->size(0));
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_TRUE(at::equal(at::tensor(frames[i], at::kLong), (*expected)[i])) << "frame " << i;
  }
}

// Makes the requests greedy and returns each one's codes generated alone.
std::vector<at::Tensor> SoloGreedyCodes(const std::shared_ptr<const TalkerModel>& model,
                                        std::vector<TalkerRequest>* requests) {
  std::vector<at::Tensor> expected;
  for (TalkerRequest& r : *requests) {
    r.options.talker.do_sample = r.options.code_predictor.do_sample = false;
    auto codes = GenerateCodes(model, r);
    EXPECT_TRUE(codes.ok()) << codes.status();
    expected.push_back(codes.ok() ? *codes : at::empty({0, 16}, at::kLong));
  }
  return expected;
}

// Greedy requests stepped together with StepBatch for 20 steps produce exactly their solo codes.
void ExpectBatchedEqualsSolo(const std::shared_ptr<const TalkerModel>& model, std::vector<TalkerRequest> requests) {
  std::vector<at::Tensor> expected = SoloGreedyCodes(model, &requests);
  std::vector<std::unique_ptr<TalkerSequence>> owned;
  std::vector<TalkerSequence*> batch;
  for (const TalkerRequest& r : requests) {
    auto seq = TalkerSequence::Start(model, r);
    ASSERT_TRUE(seq.ok());
    batch.push_back(seq->get());
    owned.push_back(std::move(*seq));
  }
  std::vector<std::vector<at::Tensor>> got(batch.size());
  for (int step = 0; step < 20; ++step) {
    ASSERT_TRUE(StepBatch(batch, [&](size_t i, const std::vector<int64_t>& codes) {
                  got[i].push_back(at::tensor(codes, at::kLong));
                }).ok());
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    ASSERT_FALSE(got[i].empty());
    EXPECT_TRUE(at::equal(at::stack(got[i]), expected[i])) << "sequence " << i;
  }
}

// A sequence's KV cache starts small and doubles as it fills (requests no longer zero-fill room for
// max_new_tokens up front): attention over a cache that grew several times gives exactly what a
// cache sized for everything gives, one position at a time and in the batched path.
TEST_F(TalkerGenerationTest, KvCacheGrowsOnDemandWithoutChangingResults) {
  auto model = Load(ModelVariant::kCustomVoice, "0b6");
  at::manual_seed(3);
  const at::Tensor embeds = at::randn({21, model->hidden_size()}) * 0.1;
  std::vector<nn::KvCache> roomy = model->NewTalkerCache(64);
  std::vector<nn::KvCache> grown = model->NewTalkerCache(2);  // grows 2 -> 5 -> 10 -> 20 -> 40
  std::vector<nn::KvCache> batched = model->NewTalkerCache(3);
  // A 5-position prefill, then one position per step, as generation does.
  at::Tensor a = model->RunTalker(embeds.narrow(0, 0, 5), &roomy);
  at::Tensor b = model->RunTalker(embeds.narrow(0, 0, 5), &grown);
  at::Tensor c = model->RunTalkerBatch(embeds.narrow(0, 0, 5), {5}, {&batched});
  EXPECT_TRUE(at::equal(a, b));
  EXPECT_TRUE(at::equal(a, c));
  for (int64_t t = 5; t < embeds.size(0); ++t) {
    a = model->RunTalker(embeds.narrow(0, t, 1), &roomy);
    b = model->RunTalker(embeds.narrow(0, t, 1), &grown);
    c = model->RunTalkerBatch(embeds.narrow(0, t, 1), {1}, {&batched});
    EXPECT_TRUE(at::equal(a, b)) << "position " << t;
    EXPECT_TRUE(at::equal(a, c)) << "position " << t;
  }
  EXPECT_EQ(grown[0].length(), embeds.size(0));
}

// The CI fuzz smoke's finding: a temperature of 5.7e-39 (valid: > 0) made the first token's
// distribution NaN and at::multinomial threw on the generation thread. It samples like greedy now.
TEST_F(TalkerGenerationTest, TinyTemperatureGeneratesLikeGreedy) {
  auto model = Load(ModelVariant::kCustomVoice, "0b6");
  TalkerRequest tiny = CustomVoiceRequest();
  tiny.options.talker.temperature = tiny.options.code_predictor.temperature = 5.7e-39;
  tiny.options.repetition_penalty = 1.0;
  TalkerRequest greedy = GreedyCustomVoiceRequest();
  greedy.options.repetition_penalty = 1.0;
  auto sampled = GenerateCodes(model, tiny);
  ASSERT_TRUE(sampled.ok()) << sampled.status();
  auto expected = GenerateCodes(model, greedy);
  ASSERT_TRUE(expected.ok()) << expected.status();
  EXPECT_TRUE(at::equal(*sampled, *expected));
}

TEST_F(TalkerGenerationTest, BatchedSteppingEqualsSequentialForGreedy) {
  auto model = Load(ModelVariant::kCustomVoice, "1b7");
  std::vector<TalkerRequest> requests(3, CustomVoiceRequest());
  requests[1].speaker = "Vivian";
  requests[2].input_ids = Template(3);
  requests[2].language = "auto";
  ExpectBatchedEqualsSolo(model, requests);
}

// A frame is handed out as soon as its codes are chosen, before the talker's step that prepares
// the next frame: inside on_frame the sequence has not advanced yet (its frame count is the frames
// handed out before, and the step that may finish it has not run), and the frames are its solo ones.
TEST_F(TalkerGenerationTest, StepBatchHandsOutEachFrameBeforeTheTalkersStep) {
  auto model = Load(ModelVariant::kCustomVoice, "1b7");
  std::vector<TalkerRequest> requests(2, CustomVoiceRequest());
  requests[1].speaker = "Vivian";
  std::vector<at::Tensor> expected = SoloGreedyCodes(model, &requests);
  std::vector<std::unique_ptr<TalkerSequence>> owned;
  std::vector<TalkerSequence*> batch;
  for (const TalkerRequest& r : requests) {
    auto seq = TalkerSequence::Start(model, r);
    ASSERT_TRUE(seq.ok()) << seq.status();
    batch.push_back(seq->get());
    owned.push_back(std::move(*seq));
  }
  std::vector<std::vector<at::Tensor>> got(batch.size());
  int handed_out = 0;
  while (std::any_of(batch.begin(), batch.end(),
                     [](const TalkerSequence* s) { return s->state() == TalkerSequence::State::kRunning; })) {
    ASSERT_TRUE(StepBatch(batch, [&](size_t i, const std::vector<int64_t>& codes) {
                  EXPECT_EQ(batch[i]->frames_produced(), static_cast<int64_t>(got[i].size())) << "sequence " << i;
                  EXPECT_EQ(batch[i]->state(), TalkerSequence::State::kRunning) << "sequence " << i;
                  got[i].push_back(at::tensor(codes, at::kLong));
                  ++handed_out;
                }).ok());
  }
  EXPECT_GT(handed_out, 2);
  for (size_t i = 0; i < batch.size(); ++i) {
    EXPECT_EQ(batch[i]->frames_produced(), static_cast<int64_t>(got[i].size())) << "sequence " << i;
    ASSERT_FALSE(got[i].empty()) << "sequence " << i;
    EXPECT_TRUE(at::equal(at::stack(got[i]), expected[i])) << "sequence " << i;
  }
}

// Continuous batching: sequences join the running batch at frame boundaries and leave when they
// finish; each one's greedy output is what it would have produced alone.
TEST_F(TalkerGenerationTest, SequencesJoiningAndLeavingTheBatchMatchTheirSoloRuns) {
  auto model = Load(ModelVariant::kCustomVoice, "1b7");
  std::vector<TalkerRequest> requests(4, CustomVoiceRequest());
  requests[1].speaker = "Vivian";
  requests[1].options.max_new_tokens = requests[1].options.min_new_tokens = 5;  // leaves early
  requests[2].input_ids = Template(9);
  requests[3].input_ids = Template(2);
  requests[3].language = "auto";
  const std::vector<int> joins_at = {0, 0, 3, 7};
  std::vector<at::Tensor> expected = SoloGreedyCodes(model, &requests);
  std::vector<std::unique_ptr<TalkerSequence>> owned(requests.size());
  std::vector<std::vector<at::Tensor>> got(requests.size());
  std::vector<size_t> max_batch_seen = {0};
  for (int step = 0; step < 30; ++step) {
    for (size_t i = 0; i < requests.size(); ++i) {
      if (joins_at[i] == step) {
        auto seq = TalkerSequence::Start(model, requests[i]);
        ASSERT_TRUE(seq.ok());
        owned[i] = std::move(*seq);
      }
    }
    std::vector<TalkerSequence*> batch;
    std::vector<size_t> index;
    for (size_t i = 0; i < owned.size(); ++i) {
      if (owned[i] && owned[i]->state() == TalkerSequence::State::kRunning) {
        batch.push_back(owned[i].get());
        index.push_back(i);
      }
    }
    max_batch_seen[0] = std::max(max_batch_seen[0], batch.size());
    ASSERT_TRUE(StepBatch(batch, [&](size_t b, const std::vector<int64_t>& codes) {
                  got[index[b]].push_back(at::tensor(codes, at::kLong));
                }).ok());
  }
  EXPECT_GE(max_batch_seen[0], 3u);
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_FALSE(got[i].empty()) << i;
    EXPECT_TRUE(at::equal(at::stack(got[i]), expected[i])) << "sequence " << i;
  }
}

// Reads a batched stream to its end: the frames, or the error it ended with.
absl::StatusOr<at::Tensor> ReadAll(TalkerBatcher::Stream& stream) {
  std::vector<at::Tensor> frames;
  while (true) {
    absl::StatusOr<std::optional<std::vector<int64_t>>> frame = stream.Next();
    if (!frame.ok()) return frame.status();
    if (!frame->has_value()) break;
    frames.push_back(at::tensor(**frame, at::kLong));
  }
  if (frames.empty()) return at::empty({0, 16}, at::kLong);
  return at::stack(frames);
}

// The talker stage's scheduler: streams submitted from several threads at different times are
// stepped together, streaming text reaches its sequence between steps, and every greedy output
// equals the solo run of the same request.
TEST_F(TalkerGenerationTest, BatcherStreamsMatchTheirSoloRuns) {
  auto model = Load(ModelVariant::kCustomVoice, "1b7");
  std::vector<TalkerRequest> requests(4, CustomVoiceRequest());
  requests[1].speaker = "Vivian";
  requests[1].options.max_new_tokens = requests[1].options.min_new_tokens = 5;
  requests[2].input_ids = Template(9);
  requests[3].input_ids = Template(4);
  std::vector<at::Tensor> expected = SoloGreedyCodes(model, &requests);
  std::atomic<int> largest_batch{0};
  TalkerBatcher batcher(/*max_batch=*/8, /*max_queued_frames=*/4, [&](const TalkerBatcher::StepStats& step) {
    largest_batch = std::max(largest_batch.load(), step.batch_size);
    EXPECT_GT(step.talker_seconds, 0);
    EXPECT_GT(step.code_predictor_seconds, 0);
  });
  std::vector<absl::StatusOr<at::Tensor>> got(requests.size(), absl::UnknownError("not run"));
  std::vector<std::thread> clients;
  // Readers start only once every stream is submitted: the early sequences run ahead until their
  // queues fill (max_queued_frames), so the later ones join a running batch at different frames
  // however fast the steps are.
  std::atomic<size_t> submitted{0};
  auto wait_for_all = [&] {
    while (submitted.load() < requests.size()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  };
  for (size_t i = 0; i < requests.size(); ++i) {
    clients.emplace_back([&, i] {
      std::this_thread::sleep_for(std::chrono::milliseconds(15 * i));  // join at different frames
      TalkerRequest r = requests[i];
      std::vector<int64_t> later;
      if (i == 3) {  // streaming text: role + first token now, the rest token by token, then close
        r.text_input_open = true;
        r.input_ids.assign(requests[i].input_ids.begin(), requests[i].input_ids.begin() + 4);
        later.assign(requests[i].input_ids.begin() + 4, requests[i].input_ids.end() - 5);
      }
      auto seq = TalkerSequence::Start(model, r);
      if (!seq.ok()) {
        got[i] = seq.status();
        ++submitted;
        return;
      }
      std::shared_ptr<TalkerBatcher::Stream> stream = batcher.Submit(std::move(*seq));
      ++submitted;
      wait_for_all();
      std::thread writer;
      if (i == 3) {
        writer = std::thread([&, stream, later] {
          for (int64_t id : later) {
            EXPECT_TRUE(stream->AppendText({id}).ok());
            std::this_thread::sleep_for(std::chrono::milliseconds(3));
          }
          stream->CloseText();
          EXPECT_EQ(stream->AppendText({5}).code(), absl::StatusCode::kFailedPrecondition);
        });
      }
      got[i] = ReadAll(*stream);
      if (writer.joinable()) writer.join();
      EXPECT_TRUE(stream->done());
      if (got[i].ok()) {
        EXPECT_EQ(stream->sequence()->frames_produced(), got[i]->size(0));
      }
    });
  }
  for (std::thread& t : clients) t.join();
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(got[i].ok()) << "stream " << i << ": " << got[i].status();
    EXPECT_TRUE(at::equal(*got[i], expected[i])) << "stream " << i;
  }
  EXPECT_GE(largest_batch.load(), 2);
}

// A reader that does not keep up pauses only its own sequence; a cancelled stream leaves the batch
// with CANCELLED; a stream its holder dropped frees its place; later streams wait for a place.
TEST_F(TalkerGenerationTest, BatcherBackpressureCancelAndAbandonedStreams) {
  auto model = Load(ModelVariant::kCustomVoice, "1b7");
  TalkerRequest request = GreedyCustomVoiceRequest();
  auto expected = GenerateCodes(model, request);
  ASSERT_TRUE(expected.ok());
  auto start = [&] {
    auto seq = TalkerSequence::Start(model, request);
    EXPECT_TRUE(seq.ok());
    return std::move(*seq);
  };
  {
    TalkerBatcher batcher(/*max_batch=*/4, /*max_queued_frames=*/2);
    auto unread = batcher.Submit(start());
    auto cancelled = batcher.Submit(start());
    auto read = batcher.Submit(start());
    auto first = cancelled->Next();
    ASSERT_TRUE(first.ok() && first->has_value());
    cancelled->Cancel();
    auto after_cancel = ReadAll(*cancelled);
    EXPECT_EQ(after_cancel.status().code(), absl::StatusCode::kCancelled);
    auto full = ReadAll(*read);  // completes although `unread` is paused with a full queue
    ASSERT_TRUE(full.ok()) << full.status();
    EXPECT_TRUE(at::equal(*full, *expected));
    EXPECT_FALSE(unread->done());
    auto late = ReadAll(*unread);
    ASSERT_TRUE(late.ok()) << late.status();
    EXPECT_TRUE(at::equal(*late, *expected));
  }
  {
    // One place: an abandoned stream must give it up for the next one to run at all.
    TalkerBatcher batcher(/*max_batch=*/1, /*max_queued_frames=*/1);
    batcher.Submit(start());  // dropped at once
    auto waiting = batcher.Submit(start());
    auto second = batcher.Submit(start());
    auto a = ReadAll(*waiting);
    auto b = ReadAll(*second);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_TRUE(at::equal(*a, *expected));
    EXPECT_TRUE(at::equal(*b, *expected));
  }
  {
    // Streams still open when the batcher stops end with UNAVAILABLE instead of hanging.
    std::shared_ptr<TalkerBatcher::Stream> open;
    {
      TalkerBatcher batcher(/*max_batch=*/1, /*max_queued_frames=*/1);
      open = batcher.Submit(start());
      batcher.Submit(start());
    }
    EXPECT_TRUE(open->done());
  }
}

// Submit(Starter): the prefill runs on the batcher's thread, not the caller's; text sent before
// the start is applied after it; a start error ends the stream with that error.
TEST_F(TalkerGenerationTest, BatcherStartsSequencesOnItsOwnThread) {
  auto model = Load(ModelVariant::kCustomVoice, "1b7");
  TalkerRequest request = GreedyCustomVoiceRequest();
  auto expected = GenerateCodes(model, request);
  ASSERT_TRUE(expected.ok());
  TalkerBatcher batcher(/*max_batch=*/4, /*max_queued_frames=*/4);
  std::atomic<bool> started_elsewhere{false};
  const std::thread::id caller = std::this_thread::get_id();
  auto whole = batcher.Submit([&] {
    started_elsewhere = std::this_thread::get_id() != caller;
    return TalkerSequence::Start(model, request);
  });
  // Streaming text: only the first tokens at the start, the rest appended and closed before the
  // generation thread may even have started the sequence.
  TalkerRequest open = request;
  open.text_input_open = true;
  open.input_ids.assign(request.input_ids.begin(), request.input_ids.begin() + 4);
  auto streamed = batcher.Submit([&] { return TalkerSequence::Start(model, open); });
  ASSERT_TRUE(streamed->AppendText(std::vector<int64_t>(request.input_ids.begin() + 4, request.input_ids.end() - 5)).ok());
  streamed->CloseText();
  auto failing = batcher.Submit([]() -> absl::StatusOr<std::unique_ptr<TalkerSequence>> {
    return absl::InvalidArgumentError("text: too long");
  });
  auto a = ReadAll(*whole);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(at::equal(*a, *expected));
  EXPECT_TRUE(started_elsewhere.load());
  auto b = ReadAll(*streamed);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_GT(b->size(0), 0);
  auto c = ReadAll(*failing);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(), "text: too long");
  EXPECT_TRUE(failing->done());
  EXPECT_EQ(failing->sequence(), nullptr);
}

// A prefill runs beside the steps, not between them: a start that waits for another stream's new
// frames gets them (on the generation thread it stalled every stream for its whole length), it
// takes the threads the steps leave, and both streams still generate their solo codes.
TEST_F(TalkerGenerationTest, BatcherPrefillsWhileTheBatchKeepsStepping) {
  auto model = Load(ModelVariant::kCustomVoice, "1b7");
  TalkerRequest running_request = GreedyCustomVoiceRequest();
  running_request.options.max_new_tokens = running_request.options.min_new_tokens = 16;
  const TalkerRequest started_request = GreedyCustomVoiceRequest();
  auto running_expected = GenerateCodes(model, running_request);
  auto started_expected = GenerateCodes(model, started_request);
  ASSERT_TRUE(running_expected.ok() && started_expected.ok());

  // Two queued frames at most: the running sequence can only get further ahead of its reader by
  // stepping.
  TalkerBatcher batcher(/*max_batch=*/4, /*max_queued_frames=*/2, nullptr, /*threads=*/1, /*prefill_threads=*/3);
  auto running_sequence = TalkerSequence::Start(model, running_request);
  ASSERT_TRUE(running_sequence.ok());
  auto running = batcher.Submit(std::move(*running_sequence));
  std::vector<at::Tensor> running_frames;
  auto first = running->Next();
  ASSERT_TRUE(first.ok() && first->has_value());
  running_frames.push_back(at::tensor(**first, at::kLong));

  std::mutex mu;
  std::condition_variable progress;
  int frames_read = 1;
  bool start_began = false, frames_came_during_start = false;
  int start_threads = 0;
  auto started = batcher.Submit([&] {
    std::unique_lock<std::mutex> lock(mu);
    start_threads = at::get_num_threads();
    start_began = true;
    progress.notify_all();
    // The two queued frames, then at least one stepped while this start runs (a prefill on the
    // generation thread would wait here for the whole timeout).
    const int wanted = frames_read + 3;
    frames_came_during_start =
        progress.wait_for(lock, std::chrono::seconds(30), [&] { return frames_read >= wanted; });
    lock.unlock();
    return TalkerSequence::Start(model, started_request);
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    progress.wait(lock, [&] { return start_began; });
  }
  while (true) {
    auto frame = running->Next();
    ASSERT_TRUE(frame.ok()) << frame.status();
    if (!frame->has_value()) break;
    running_frames.push_back(at::tensor(**frame, at::kLong));
    std::lock_guard<std::mutex> lock(mu);
    ++frames_read;
    progress.notify_all();
  }
  auto started_codes = ReadAll(*started);
  ASSERT_TRUE(started_codes.ok()) << started_codes.status();
  EXPECT_TRUE(frames_came_during_start);
  EXPECT_EQ(start_threads, 2);  // 3 for prefills, less the steps' 1
  EXPECT_TRUE(at::equal(at::stack(running_frames), *running_expected));
  EXPECT_TRUE(at::equal(*started_codes, *started_expected));
}

// A batcher that shares its process with another stage (`qwen3-tts serve`) steps with its own
// intra-op thread count and prefills with another, on its own threads only; the first step
// of a sequence, whose audio nobody is decoding yet, runs on the prefill's count too.
TEST_F(TalkerGenerationTest, BatcherUsesItsOwnThreadCountsForStepsAndPrefills) {
  auto model = Load(ModelVariant::kCustomVoice, "1b7");
  const int caller_threads = at::get_num_threads();
  std::atomic<int> prefill_threads{0};
  std::mutex mu;
  std::vector<int> step_threads;
  {
    TalkerBatcher batcher(/*max_batch=*/2, /*max_queued_frames=*/4,
                          [&](const TalkerBatcher::StepStats& step) {
                            std::lock_guard<std::mutex> lock(mu);
                            step_threads.push_back(step.threads);
                          },
                          /*threads=*/1, /*prefill_threads=*/3);
    auto stream = batcher.Submit([&] {
      prefill_threads = at::get_num_threads();
      return TalkerSequence::Start(model, GreedyCustomVoiceRequest());
    });
    auto codes = ReadAll(*stream);
    ASSERT_TRUE(codes.ok()) << codes.status();
  }
  EXPECT_EQ(prefill_threads.load(), 3);
  ASSERT_GE(step_threads.size(), 2u);
  EXPECT_EQ(step_threads.front(), 3);  // the first frame
  for (size_t i = 1; i < step_threads.size(); ++i) EXPECT_EQ(step_threads[i], 1) << "step " << i;
  EXPECT_EQ(at::get_num_threads(), caller_threads);  // the caller's own count is untouched

  // lone_stream_all_threads: a stream alone steps on the prefill's count from its third frame (the
  // second one's step runs beside the first frame's decode), and gives the same codes.
  step_threads.clear();
  auto expected = GenerateCodes(model, GreedyCustomVoiceRequest());
  ASSERT_TRUE(expected.ok());
  {
    TalkerBatcher batcher(/*max_batch=*/2, /*max_queued_frames=*/4,
                          [&](const TalkerBatcher::StepStats& step) {
                            std::lock_guard<std::mutex> lock(mu);
                            step_threads.push_back(step.threads);
                          },
                          /*threads=*/1, /*prefill_threads=*/3, /*lone_stream_all_threads=*/true);
    auto stream = batcher.Submit([&] { return TalkerSequence::Start(model, GreedyCustomVoiceRequest()); });
    auto codes = ReadAll(*stream);
    ASSERT_TRUE(codes.ok()) << codes.status();
    EXPECT_TRUE(at::equal(*codes, *expected));
  }
  ASSERT_GE(step_threads.size(), 3u);
  EXPECT_EQ(step_threads[0], 3);
  EXPECT_EQ(step_threads[1], 1);
  for (size_t i = 2; i < step_threads.size(); ++i) EXPECT_EQ(step_threads[i], 3) << "step " << i;
  EXPECT_EQ(at::get_num_threads(), caller_threads);
}

// The first-step logits of a lower-precision model stay within `tolerance` of float32's range
// (tolerance 0: equal bit for bit).
void ExpectPrefillLogitsClose(const std::shared_ptr<const TalkerModel>& f32,
                              const std::shared_ptr<const TalkerModel>& other, float tolerance = 0.05f) {
  TalkerRequest r = TalkerGenerationTest::GreedyCustomVoiceRequest();
  GenerationTrace a, b;
  ASSERT_TRUE(TalkerSequence::Start(f32, r, &a).ok());
  ASSERT_TRUE(TalkerSequence::Start(other, r, &b).ok());
  at::Tensor diff = (a.logits_step0 - b.logits_step0).abs().max();
  if (tolerance == 0.0f) {
    EXPECT_TRUE(at::equal(a.logits_step0, b.logits_step0)) << "max |difference| " << diff.item<float>();
  } else {
    EXPECT_LT(diff.item<float>(), tolerance * a.logits_step0.abs().max().item<float>() + 1e-3f);
  }
  std::printf("prefill logits: max |difference| %.4f of max |logit| %.4f\n", diff.item<float>(),
              a.logits_step0.abs().max().item<float>());
}

// bfloat16 keeps the linear layers' weights (and the codec tables) in bfloat16 and computes in
// float32 on their exact widening. On a checkpoint stored in bfloat16, as the official ones are,
// float32 keeps the very same bfloat16 weights (no value changes): both give the same logits and
// greedy codes bit for bit, from half the bytes float32 weights would take, and batch like solo.
TEST_F(TalkerGenerationTest, Bfloat16OnABfloat16CheckpointEqualsFloat32WithHalfTheBytes) {
  auto f32 = Load(ModelVariant::kCustomVoice, "1b7", WeightPrecision::kFloat32);
  auto bf16 = Load(ModelVariant::kCustomVoice, "1b7", WeightPrecision::kBFloat16);
  auto f32_stored = testing::LoadRandomTalker(ModelVariant::kCustomVoice, "1b7", WeightPrecision::kFloat32, at::kFloat);
  EXPECT_EQ(bf16->precision(), WeightPrecision::kBFloat16);
  EXPECT_EQ(bf16->dtype(), at::kFloat);
  EXPECT_EQ(f32->TalkerBytesPerStep(), bf16->TalkerBytesPerStep());
  EXPECT_EQ(f32->CodePredictorBytesPerStep(), bf16->CodePredictorBytesPerStep());
  // Linear weights halve; the float32 norms and biases do not (they weigh more in the tiny model).
  EXPECT_LT(bf16->TalkerBytesPerStep(), f32_stored->TalkerBytesPerStep() * 55 / 100);
  EXPECT_GT(bf16->TalkerBytesPerStep(), f32_stored->TalkerBytesPerStep() * 45 / 100);
  EXPECT_LT(bf16->CodePredictorBytesPerStep(), f32_stored->CodePredictorBytesPerStep() * 55 / 100);
  ExpectPrefillLogitsClose(f32, bf16, /*tolerance=*/0.0f);

  std::vector<TalkerRequest> requests(3, CustomVoiceRequest());
  requests[1].speaker = "Vivian";
  requests[2].input_ids = Template(3);
  std::vector<at::Tensor> f32_codes = SoloGreedyCodes(f32, &requests);
  std::vector<at::Tensor> bf16_codes = SoloGreedyCodes(bf16, &requests);
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_TRUE(at::equal(bf16_codes[i], f32_codes[i])) << "request " << i;
  }
  ExpectBatchedEqualsSolo(bf16, requests);
}

// On a float32 checkpoint float32 keeps float32 weights (bfloat16 would change them), and
// bfloat16 rounds them: half the bytes, logits close to float32's.
TEST_F(TalkerGenerationTest, Bfloat16OnAFloat32CheckpointRoundsTheWeightsAndStaysClose) {
  auto f32 = testing::LoadRandomTalker(ModelVariant::kCustomVoice, "1b7", WeightPrecision::kFloat32, at::kFloat);
  auto bf16 = testing::LoadRandomTalker(ModelVariant::kCustomVoice, "1b7", WeightPrecision::kBFloat16, at::kFloat);
  auto f32_of_bf16_checkpoint = Load(ModelVariant::kCustomVoice, "1b7", WeightPrecision::kFloat32);
  EXPECT_GT(f32->TalkerBytesPerStep(), f32_of_bf16_checkpoint->TalkerBytesPerStep() * 18 / 10);
  EXPECT_LT(bf16->TalkerBytesPerStep(), f32->TalkerBytesPerStep() * 55 / 100);
  ExpectPrefillLogitsClose(f32, bf16);
  TalkerRequest r = GreedyCustomVoiceRequest();
  GenerationTrace a, b;
  ASSERT_TRUE(TalkerSequence::Start(f32, r, &a).ok());
  ASSERT_TRUE(TalkerSequence::Start(bf16, r, &b).ok());
  EXPECT_FALSE(at::equal(a.logits_step0, b.logits_step0));  // the rounding is real
}

// int8: the prefill logits stay close to float32, the model reports a quarter of the
// weight traffic of float32 weights (half of bfloat16's), and batched greedy decoding equals each
// sequence's solo run (the int8 kernel computes every row the same way whatever the batch).
TEST_F(TalkerGenerationTest, Int8WeightsStayCloseToFloat32AndBatchLikeSolo) {
  auto f32 = Load(ModelVariant::kCustomVoice, "1b7", WeightPrecision::kFloat32);
  auto f32_stored = testing::LoadRandomTalker(ModelVariant::kCustomVoice, "1b7", WeightPrecision::kFloat32, at::kFloat);
  auto int8 = Load(ModelVariant::kCustomVoice, "1b7", WeightPrecision::kInt8);
  EXPECT_EQ(int8->precision(), WeightPrecision::kInt8);
  EXPECT_EQ(int8->dtype(), at::kFloat);
  // (Weights plus per-row scales and tile padding, which weigh more in the tiny model's narrow layers.)
  EXPECT_LT(int8->TalkerBytesPerStep(), f32_stored->TalkerBytesPerStep() * 4 / 10);
  EXPECT_LT(int8->TalkerBytesPerStep(), f32->TalkerBytesPerStep() * 8 / 10);
  ExpectPrefillLogitsClose(f32, int8);

  std::vector<TalkerRequest> requests(3, CustomVoiceRequest());
  requests[1].speaker = "Vivian";
  requests[2].input_ids = Template(3);
  ExpectBatchedEqualsSolo(int8, requests);
}

// int4 and int4-g128: the transformer layers in 4 bits (heads int8): close to float32 within the
// coarser quantization's error, less weight traffic than int8 (0.57x for the real 0.6B shape; in
// the tiny model the int8 heads and the norms weigh more), batched = solo. Four sequences: a
// batched int4-g128 step takes the tile kernel where the CPU has AMX-INT8, a solo one the VNNI
// kernel.
TEST_F(TalkerGenerationTest, Int4WeightsStayCloseToFloat32AndBatchLikeSolo) {
  auto f32 = Load(ModelVariant::kCustomVoice, "1b7", WeightPrecision::kFloat32);
  auto int8 = Load(ModelVariant::kCustomVoice, "1b7", WeightPrecision::kInt8);
  for (WeightPrecision precision : {WeightPrecision::kInt4, WeightPrecision::kInt4G128}) {
    SCOPED_TRACE(WeightPrecisionName(precision));
    auto int4 = Load(ModelVariant::kCustomVoice, "1b7", precision);
    EXPECT_EQ(int4->precision(), precision);
    EXPECT_EQ(int4->dtype(), at::kFloat);
    // The tiny model's layers are narrower than 128 inputs, so int4-g128 pads every block (its
    // bytes per weight are checked on whole blocks in nn_linear_test.cc).
    if (precision == WeightPrecision::kInt4) {
      EXPECT_LT(int4->TalkerBytesPerStep(), int8->TalkerBytesPerStep() * 9 / 10);
      EXPECT_LT(int4->CodePredictorBytesPerStep(), int8->CodePredictorBytesPerStep() * 9 / 10);
    }
    ExpectPrefillLogitsClose(f32, int4, 0.15f);

    std::vector<TalkerRequest> requests(4, CustomVoiceRequest());
    requests[1].speaker = "Vivian";
    requests[2].input_ids = Template(3);
    requests[3].input_ids = Template(2);
    ExpectBatchedEqualsSolo(int4, requests);
  }
}

// The prompt-head cache: a prompt whose head (instruction, role, codec tags) an earlier prompt had
// runs only its later rows, with the same logits and codes bit for bit as without the cache, for
// every precision; heads differing in any row (speaker, instruction) do not match; the budget
// evicts the least recently used head.
TEST_F(TalkerGenerationTest, PromptHeadCacheReusesHeadsWithIdenticalResults) {
  for (WeightPrecision precision :
       {WeightPrecision::kFloat32, WeightPrecision::kInt8, WeightPrecision::kInt4, WeightPrecision::kInt4G128}) {
    SCOPED_TRACE(WeightPrecisionName(precision));
    auto model = Load(ModelVariant::kCustomVoice, "1b7", precision);
    PromptHeadCache& cache = model->prompt_head_cache();
    std::vector<TalkerRequest> requests(5, GreedyCustomVoiceRequest());
    requests[1].input_ids = Template(3);   // same head as 0, other text
    requests[2].speaker = "Vivian";        // another head
    requests[3].instruct_ids = Template(2);  // an instruction in front: another head
    requests[4].non_streaming_mode = true;   // the same head as 0, the whole text in the prompt
    auto run = [&](const TalkerRequest& r, GenerationTrace* trace) {
      auto codes = GenerateCodes(model, r, trace);
      EXPECT_TRUE(codes.ok()) << codes.status();
      return codes.ok() ? *codes : at::Tensor();
    };

    cache.SetMaxBytes(0);  // disabled: the reference runs
    std::vector<at::Tensor> expected_codes;
    std::vector<GenerationTrace> expected(requests.size());
    for (size_t i = 0; i < requests.size(); ++i) {
      expected_codes.push_back(run(requests[i], &expected[i]));
      EXPECT_EQ(expected[i].prompt_rows_reused, 0);
      EXPECT_GT(expected[i].prompt_head_rows, 0);
    }
    EXPECT_EQ(cache.entries(), 0);
    EXPECT_GT(expected[3].prompt_head_rows, expected[0].prompt_head_rows);  // the instruction's rows in front

    cache.SetMaxBytes(kDefaultPromptHeadCacheBytes);
    const int64_t hits = cache.hits(), misses = cache.misses();
    // Heads first seen, then seen again: 0 misses, 1 and 4 hit its head, 2 and 3 miss, 0 hits.
    const std::vector<size_t> order = {0, 1, 2, 3, 4, 0};
    const std::vector<bool> reused = {false, true, false, false, true, true};
    for (size_t k = 0; k < order.size(); ++k) {
      const size_t i = order[k];
      SCOPED_TRACE(::testing::Message() << "request " << i << ", run " << k);
      GenerationTrace trace;
      at::Tensor codes = run(requests[i], &trace);
      ASSERT_TRUE(codes.defined());
      EXPECT_EQ(trace.prompt_rows_reused, reused[k] ? trace.prompt_head_rows : 0);
      EXPECT_TRUE(at::equal(codes, expected_codes[i]));
      ASSERT_EQ(trace.logits.size(), expected[i].logits.size());
      for (size_t t = 0; t < trace.logits.size(); ++t) {
        EXPECT_TRUE(at::equal(trace.logits[t], expected[i].logits[t])) << "talker logits of token " << t;
      }
    }
    EXPECT_EQ(cache.hits() - hits, 3);
    EXPECT_EQ(cache.misses() - misses, 3);
    EXPECT_EQ(cache.entries(), 3);

    // A budget of one head (0's and 2's are the same size) keeps only the latest.
    cache.SetMaxBytes(0);
    cache.SetMaxBytes(kDefaultPromptHeadCacheBytes);
    GenerationTrace after;
    run(requests[0], &after);
    cache.SetMaxBytes(cache.bytes());
    EXPECT_EQ(cache.entries(), 1);
    run(requests[2], &after);
    EXPECT_EQ(after.prompt_rows_reused, 0);
    EXPECT_EQ(cache.entries(), 1);
    run(requests[0], &after);
    EXPECT_EQ(after.prompt_rows_reused, 0);  // evicted by 2's head
    run(requests[0], &after);
    EXPECT_EQ(after.prompt_rows_reused, after.prompt_head_rows);
    cache.SetMaxBytes(kDefaultPromptHeadCacheBytes);
  }
}

TEST(PromptHeadCache, MatchesExactRowsAndEvictsTheLeastRecentlyUsed) {
  // Layers of a given size: kv_heads x capacity x head_dim floats, twice (keys and values).
  auto layers = [](int64_t positions) {
    PromptHeadCache::Layers l;
    l.emplace_back(/*kv_heads=*/1, /*head_dim=*/4, positions, /*sliding=*/false, at::kFloat);
    return l;
  };
  const at::Tensor a = at::arange(8, at::kFloat).view({2, 4});
  at::Tensor b = a.clone();
  b[1][3] = std::nextafter(b[1][3].item<float>(), 100.0f);  // one bit of one value differs
  const at::Tensor c = a.view({4, 2});                       // the same bytes in another shape: the same head

  PromptHeadCache cache(/*max_bytes=*/1000);
  EXPECT_EQ(cache.Find(a), nullptr);
  cache.Insert(a, layers(8));  // 2 x 8 x 4 x 4 = 256 bytes of keys and values + 32 of rows
  EXPECT_EQ(cache.bytes(), 288);
  ASSERT_NE(cache.Find(a), nullptr);
  EXPECT_EQ(cache.Find(a)->front().bytes(), 256);
  EXPECT_EQ(cache.Find(b), nullptr);
  EXPECT_NE(cache.Find(c), nullptr);
  EXPECT_EQ(cache.hits(), 3);
  EXPECT_EQ(cache.misses(), 2);

  cache.Insert(b, layers(8));
  cache.Insert(a, layers(16));  // replaces a's entry (544 bytes) and makes it the most recent
  EXPECT_EQ(cache.entries(), 2);
  EXPECT_EQ(cache.bytes(), 288 + 544);
  const at::Tensor d = a + 1;
  cache.Insert(d, layers(8));  // 288 more bytes: over budget, b (least recently used) goes
  EXPECT_EQ(cache.entries(), 2);
  EXPECT_EQ(cache.Find(b), nullptr);
  EXPECT_NE(cache.Find(a), nullptr);
  EXPECT_NE(cache.Find(d), nullptr);

  cache.Insert(b, layers(64));  // larger than the whole budget: not kept, nothing evicted
  EXPECT_EQ(cache.entries(), 2);
  EXPECT_EQ(cache.Find(b), nullptr);

  cache.SetMaxBytes(0);
  EXPECT_EQ(cache.entries(), 0);
  EXPECT_EQ(cache.bytes(), 0);
  cache.Insert(a, layers(1));
  EXPECT_EQ(cache.Find(a), nullptr);
}

TEST(WeightPrecisionNames, ParseAndNameRoundTripAndErrorsListTheAllowedValues) {
  for (WeightPrecision p : {WeightPrecision::kFloat32, WeightPrecision::kBFloat16, WeightPrecision::kInt8,
                            WeightPrecision::kInt4, WeightPrecision::kInt4G128}) {
    auto parsed = ParseWeightPrecision(WeightPrecisionName(p));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, p);
  }
  auto bad = ParseWeightPrecision("fp16");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("float32, bfloat16, int8, int4, int4-g128"), std::string::npos)
      << bad.status();
  EXPECT_NE(bad.status().message().find("fp16"), std::string::npos) << bad.status();
}

}  // namespace
}  // namespace qwen3tts
