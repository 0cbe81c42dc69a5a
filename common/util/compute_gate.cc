#include "common/util/compute_gate.h"

namespace qwen3tts {

ComputeScope::ComputeScope(ComputeGate& gate, bool exclusive) {
  if (!exclusive) return;
  gate_ = &gate;
  std::unique_lock<std::mutex> lock(gate.mu_);
  const uint64_t ticket = gate.next_ticket_++;
  gate.turn_.wait(lock, [&] { return gate.serving_ == ticket; });
}

ComputeScope::~ComputeScope() {
  if (gate_ == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(gate_->mu_);
    ++gate_->serving_;
  }
  gate_->turn_.notify_all();
}

}  // namespace qwen3tts
