// Prometheus metrics shared by every stage. One process may host all three stages
// (`qwen3-tts serve`), so there is one registry per process and every stage-specific series carries
// a `stage` label. Names start with qwen3tts_, units are in the names (_seconds, _total), and
// labels are bounded: stage, gRPC method (only methods compiled into this binary) and status code.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>
#include <string>

#include "absl/status/statusor.h"

namespace grpc::experimental {
class ServerInterceptorFactoryInterface;
}

namespace qwen3tts {

prometheus::Registry& MetricsRegistry();

// The series of one stage ("talker", "vocoder" or "gateway"). Handles are created once and are
// cheap to update from any thread.
struct StageMetrics {
  static StageMetrics& For(const std::string& stage);

  prometheus::Gauge& active_streams;            // qwen3tts_active_streams
  prometheus::Gauge& queue_depth;               // qwen3tts_queue_depth
  prometheus::Histogram& queue_wait_seconds;    // qwen3tts_queue_wait_seconds
  prometheus::Counter& rejected_total;          // qwen3tts_rejected_streams_total (limits reached)
  prometheus::Histogram& batch_size;            // qwen3tts_batch_size (sequences per talker step, streams per vocoder round)
  prometheus::Counter& frames_total;            // qwen3tts_frames_total (generated / decoded / streamed)
  prometheus::Histogram& time_to_first_audio_seconds;  // talker: first frame; gateway: first audio
  prometheus::Histogram& real_time_factor;      // processing time / audio time, per stream
  prometheus::Histogram& talker_frame_seconds;  // talker stack, per frame
  prometheus::Histogram& code_predictor_frame_seconds;  // the 15 residual codes, per frame
  prometheus::Histogram& decode_seconds;        // vocoder: one Decode message (frames -> PCM)
  prometheus::Gauge& model_load_seconds;        // loading + warm-up at start-up
  // qwen3tts_prompt_rows_total{source}: prompt rows the talker's prefills computed, and rows whose
  // keys and values came from the prompt-head cache instead.
  prometheus::Counter& prompt_rows_computed_total;
  prometheus::Counter& prompt_rows_cached_total;
  // Talker: where a request's time to first frame goes before its first step. prefill_wait: from
  // its start being handed to the prefill thread (after admission) until its prefill begins
  // (prefills run one at a time); prefill: the prefill itself.
  prometheus::Histogram& prefill_wait_seconds;  // qwen3tts_prefill_wait_seconds
  prometheus::Histogram& prefill_seconds;       // qwen3tts_prefill_seconds
};

// qwen3tts_build_info{stage, version, git_sha, precision, threads} = 1.
void SetBuildInfo(const std::string& stage, const std::string& precision, int threads);

// Records qwen3tts_grpc_requests_total{method, code}, qwen3tts_grpc_active_calls{method} and
// qwen3tts_grpc_request_duration_seconds{method} for every call the server handles.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeRpcMetricsInterceptorFactory();

// Serves GET /metrics (Prometheus text format) on `address` (HOST:PORT; port 0 picks a free one).
// A tiny HTTP/1.0-style server of its own: one scrape at a time is all Prometheus needs, and it
// keeps civetweb (prometheus-cpp's pull library) out of the process.
class MetricsEndpoint {
 public:
  // With `bearer_keys`, a scrape must send `Authorization: Bearer <key>` (Prometheus:
  // `authorization: {credentials_file: ...}`); empty: open.
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(const std::string& address,
                                                                std::vector<std::string> bearer_keys = {});
  ~MetricsEndpoint();
  int port() const { return port_; }

 private:
  MetricsEndpoint() = default;
  void Serve();
  std::vector<std::string> bearer_keys_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace qwen3tts
