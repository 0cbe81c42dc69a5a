// Test signals and a coarse pitch detector for audio tests.
#pragma once

#include <cmath>
#include <complex>
#include <vector>

namespace qwen3tts::testing {

inline std::vector<float> Sine(double hz, int64_t rate, double seconds, float amplitude = 0.5f) {
  std::vector<float> s(static_cast<size_t>(rate * seconds));
  for (size_t i = 0; i < s.size(); ++i) s[i] = amplitude * static_cast<float>(std::sin(2 * M_PI * hz * i / rate));
  return s;
}

// Dominant frequency between 100 Hz and 2 kHz by a DFT scan in 5 Hz steps.
inline double PeakHz(const std::vector<float>& s, int64_t rate) {
  double best = 0, best_hz = 0;
  for (double hz = 100; hz <= 2000; hz += 5) {
    std::complex<double> acc = 0;
    for (size_t i = 0; i < s.size(); ++i) acc += static_cast<double>(s[i]) * std::polar(1.0, -2 * M_PI * hz * i / rate);
    if (std::abs(acc) > best) {
      best = std::abs(acc);
      best_hz = hz;
    }
  }
  return best_hz;
}

}  // namespace qwen3tts::testing
