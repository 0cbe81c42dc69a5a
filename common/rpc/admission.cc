#include "common/rpc/admission.h"

#include <atomic>
#include <chrono>

#include "absl/strings/str_cat.h"

namespace qwen3tts {

AdmissionControl::AdmissionControl(int max_active, int max_queued, StageMetrics* metrics)
    : max_active_(max_active), max_queued_(max_queued < 0 ? 0 : max_queued), metrics_(metrics) {}

AdmissionControl::Slot& AdmissionControl::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    if (owner_ != nullptr) owner_->Release();
    owner_ = other.owner_;
    other.owner_ = nullptr;
  }
  return *this;
}

AdmissionControl::Slot::~Slot() {
  if (owner_ != nullptr) owner_->Release();
}

namespace {
std::atomic<bool> g_draining{false};
}  // namespace

void BeginDraining() { g_draining.store(true); }
bool Draining() { return g_draining.load(); }

absl::StatusOr<AdmissionControl::Slot> AdmissionControl::Acquire(const std::function<bool()>& cancelled) {
  if (Draining()) return absl::UnavailableError("server is shutting down (draining); retry on another replica");
  const auto start = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  const bool limited = max_active_ > 0;
  if (limited && active_ >= max_active_ && queued_ >= max_queued_) {
    if (metrics_ != nullptr) metrics_->rejected_total.Increment();
    return absl::ResourceExhaustedError(absl::StrCat("server busy: ", active_, " streams running (max_streams ",
                                                     max_active_, ") and ", queued_, " waiting (max_queue ",
                                                     max_queued_, "); retry later"));
  }
  const uint64_t ticket = next_ticket_++;
  ++queued_;
  if (metrics_ != nullptr) metrics_->queue_depth.Increment();
  auto my_turn = [&] { return ticket == serving_ticket_ && (!limited || active_ < max_active_); };
  while (!my_turn()) {
    if (cancelled && cancelled()) {
      --queued_;
      if (metrics_ != nullptr) metrics_->queue_depth.Decrement();
      // Pass the turn on if it was ours, or skip our ticket when it comes.
      if (ticket == serving_ticket_) {
        ++serving_ticket_;
      } else {
        skipped_.push_back(ticket);
      }
      SkipAbandoned();
      freed_.notify_all();
      return absl::CancelledError("cancelled while waiting for a free stream slot");
    }
    freed_.wait_for(lock, std::chrono::milliseconds(50));
  }
  ++serving_ticket_;
  SkipAbandoned();
  --queued_;
  ++active_;
  if (metrics_ != nullptr) {
    metrics_->queue_depth.Decrement();
    metrics_->active_streams.Increment();
    metrics_->queue_wait_seconds.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  freed_.notify_all();  // the next ticket may also fit
  return Slot(this);
}

void AdmissionControl::SkipAbandoned() {
  bool advanced = true;
  while (advanced) {
    advanced = false;
    for (auto it = skipped_.begin(); it != skipped_.end(); ++it) {
      if (*it == serving_ticket_) {
        ++serving_ticket_;
        skipped_.erase(it);
        advanced = true;
        break;
      }
    }
  }
}

void AdmissionControl::Release() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    --active_;
    if (metrics_ != nullptr) metrics_->active_streams.Decrement();
  }
  freed_.notify_all();
}

int AdmissionControl::active() const {
  std::lock_guard<std::mutex> lock(mu_);
  return active_;
}

int AdmissionControl::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queued_;
}

}  // namespace qwen3tts
