// Callback-API reactors that run a handler body on its own worker thread with blocking Read/Write.
//
// The engines' work is long-running compute (a talker frame is tens to hundreds of milliseconds),
// which must not run on gRPC's callback threads. Each call gets a worker thread that runs the
// handler body; Write/Read block the worker until the reactor's OnWriteDone/OnReadDone, so a body
// reads like synchronous code while the transport is the callback API.
#pragma once

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

namespace qwen3tts {

namespace rpc_internal {

// Shared worker/lifetime handling: the body runs on `worker_`; OnDone joins it (or detaches when
// OnDone runs on the worker itself) and deletes the reactor.
template <typename Reactor>
class WorkerOwner {
 protected:
  template <typename F>
  void StartWorker(F&& f) { worker_ = std::thread(std::forward<F>(f)); }
  void Release(Reactor* self) {
    if (worker_.joinable()) {
      if (worker_.get_id() == std::this_thread::get_id()) {
        worker_.detach();
      } else {
        worker_.join();
      }
    }
    delete self;
  }
  std::thread worker_;
};

// One outstanding operation at a time, completed by the matching On*Done callback.
class Completion {
 public:
  void Begin() {
    std::lock_guard<std::mutex> lock(mu_);
    pending_ = true;
  }
  bool Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !pending_; });
    return ok_;
  }
  void Done(bool ok) {
    std::lock_guard<std::mutex> lock(mu_);
    pending_ = false;
    ok_ = ok;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool pending_ = false;
  bool ok_ = false;
};

}  // namespace rpc_internal

// Unary RPC whose body runs off the callback thread.
class BlockingUnaryReactor final : public grpc::ServerUnaryReactor,
                                   rpc_internal::WorkerOwner<BlockingUnaryReactor> {
 public:
  explicit BlockingUnaryReactor(std::function<grpc::Status()> body) {
    StartWorker([this, body = std::move(body)] { Finish(body()); });
  }
  void OnDone() override { Release(this); }
};

// Server-streaming RPC: the body calls Write() per message and returns the final status.
template <typename Response>
class BlockingWriteReactor final : public grpc::ServerWriteReactor<Response>,
                                   rpc_internal::WorkerOwner<BlockingWriteReactor<Response>> {
 public:
  explicit BlockingWriteReactor(std::function<grpc::Status(BlockingWriteReactor*)> body) {
    this->StartWorker([this, body = std::move(body)] { this->Finish(body(this)); });
  }
  // Blocks until the message is sent; false once the stream is broken (client gone).
  bool Write(const Response& response) {
    writes_.Begin();
    this->StartWrite(&response);
    return writes_.Wait();
  }
  void OnWriteDone(bool ok) override { writes_.Done(ok); }
  void OnDone() override { this->Release(this); }

 private:
  rpc_internal::Completion writes_;
};

// Client-streaming RPC: the body calls Read() until it returns false, then returns the status
// (the response message is filled by the body through the pointer gRPC passed in).
template <typename Request>
class BlockingReadReactor final : public grpc::ServerReadReactor<Request>,
                                  rpc_internal::WorkerOwner<BlockingReadReactor<Request>> {
 public:
  explicit BlockingReadReactor(std::function<grpc::Status(BlockingReadReactor*)> body) {
    this->StartWorker([this, body = std::move(body)] { this->Finish(body(this)); });
  }
  bool Read(Request* request) {
    reads_.Begin();
    this->StartRead(request);
    return reads_.Wait();
  }
  void OnReadDone(bool ok) override { reads_.Done(ok); }
  void OnDone() override { this->Release(this); }

 private:
  rpc_internal::Completion reads_;
};

// Bidirectional RPC: Read() and Write() may be used from two threads at once (one each).
template <typename Request, typename Response>
class BlockingBidiReactor final : public grpc::ServerBidiReactor<Request, Response>,
                                  rpc_internal::WorkerOwner<BlockingBidiReactor<Request, Response>> {
 public:
  explicit BlockingBidiReactor(std::function<grpc::Status(BlockingBidiReactor*)> body) {
    this->StartWorker([this, body = std::move(body)] { FinishOnce(body(this)); });
  }
  // Ends the call with `status` now, while another thread may still be blocked in Read (the client
  // has not half-closed): that Read then returns false, and the status the body returns later is
  // not sent. Cancelling the server context would unblock the read too, but the client would get
  // CANCELLED instead of the status.
  void FinishOnce(const grpc::Status& status) {
    std::lock_guard<std::mutex> lock(finish_mu_);
    if (finished_) return;
    finished_ = true;
    this->Finish(status);
  }
  bool Read(Request* request) {
    reads_.Begin();
    this->StartRead(request);
    return reads_.Wait();
  }
  bool Write(const Response& response) {
    writes_.Begin();
    this->StartWrite(&response);
    return writes_.Wait();
  }
  void OnReadDone(bool ok) override { reads_.Done(ok); }
  void OnWriteDone(bool ok) override { writes_.Done(ok); }
  void OnDone() override { this->Release(this); }

 private:
  rpc_internal::Completion reads_, writes_;
  std::mutex finish_mu_;
  bool finished_ = false;
};

}  // namespace qwen3tts
