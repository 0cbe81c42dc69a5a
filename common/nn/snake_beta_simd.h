// The SnakeBeta kernel body (snake_beta.h), written once over a vector type's operations and
// compiled once per instruction set: snake_beta_avx2.cc (8 lanes) and snake_beta_avx512.cc (16
// lanes) include this file with their own `Lanes` traits. Every lane runs the same instructions in
// the same order on every width, so both give the same bits for every element. Include only from
// those files (their translation units are built for their instruction sets; nothing here may be
// shared with code built for a narrower one).
//
// Lanes provides: Vec (float vector), Mask (lanes of a tail), kWidth, TailMask(n), Load / Store and
// their masked forms, Set1, Mul, Fmadd (a * b + c), Fnmadd (c - a * b), RoundNearest, Abs,
// GreaterBits(a, limit) (a bit per lane: not (a <= limit), NaN included), OddSelect(even, odd, k)
// (odd's lane where the whole number k is odd), ToArray / FromArray.
#pragma once

#include <cstdint>

#include "common/nn/snake_beta.h"

namespace qwen3tts::nn::snake_simd {

// pi/2 = kPiHalf1 + kPiHalf2 + kPiHalf3; kPiHalf1 and kPiHalf2 have few significant bits, so
// k * kPiHalf1 and k * kPiHalf2 are exact for the k this kernel reduces (|argument| <= 8192).
constexpr float kPiHalf1 = 1.5703125f;
constexpr float kPiHalf2 = 4.837512969970703125e-4f;
constexpr float kPiHalf3 = 7.54978995489188216e-8f;
constexpr float kTwoOverPi = 0.636619772367581343f;
constexpr float kMaxReduced = 8192.0f;

// sin(a)^2 for arguments with |a| <= kMaxReduced.
template <typename L>
inline typename L::Vec SinSquared(typename L::Vec a) {
  const typename L::Vec k = L::RoundNearest(L::Mul(a, L::Set1(kTwoOverPi)));
  typename L::Vec r = L::Fnmadd(k, L::Set1(kPiHalf1), a);
  r = L::Fnmadd(k, L::Set1(kPiHalf2), r);
  r = L::Fnmadd(k, L::Set1(kPiHalf3), r);
  const typename L::Vec z = L::Mul(r, r);
  // sin r = r + r z (s1 + z (s2 + z s3)); cos r = 1 - z / 2 + z^2 (c1 + z (c2 + z c3)).
  typename L::Vec s = L::Fmadd(L::Set1(-1.9515295891e-4f), z, L::Set1(8.3321608736e-3f));
  s = L::Fmadd(s, z, L::Set1(-1.6666654611e-1f));
  s = L::Fmadd(L::Mul(s, z), r, r);
  typename L::Vec c = L::Fmadd(L::Set1(2.443315711809948e-5f), z, L::Set1(-1.388731625493765e-3f));
  c = L::Fmadd(c, z, L::Set1(4.166664568298827e-2f));
  c = L::Fmadd(L::Mul(c, z), z, L::Fnmadd(L::Set1(0.5f), z, L::Set1(1.0f)));
  // Odd quadrants take cos.
  const typename L::Vec v = L::OddSelect(s, c, k);
  return L::Mul(v, v);
}

// SnakeBeta of one vector of elements (kTail: the `mask` lanes are loaded, the others are zeros).
// kPerChannel: alpha and inv_beta are vectors loaded beside x; else one value each.
template <typename L, bool kTail, bool kPerChannel>
inline typename L::Vec SnakeValue(const float* x, typename L::Mask mask, const float* alpha, const float* inv_beta,
                                  SnakeSlowSinFn slow_sin) {
  using Vec = typename L::Vec;
  const Vec xv = kTail ? L::LoadTail(x, mask) : L::Load(x);
  Vec alpha_v, inv_beta_v;
  if constexpr (kPerChannel) {
    alpha_v = kTail ? L::LoadTail(alpha, mask) : L::Load(alpha);
    inv_beta_v = kTail ? L::LoadTail(inv_beta, mask) : L::Load(inv_beta);
  } else {
    alpha_v = L::Set1(*alpha);
    inv_beta_v = L::Set1(*inv_beta);
  }
  const Vec a = L::Mul(xv, alpha_v);
  // Not (|a| <= 8192): too large for the reduction, or NaN / infinite.
  const unsigned slow_lanes = L::GreaterBits(L::Abs(a), kMaxReduced);
  Vec sin2 = SinSquared<L>(a);
  if (slow_lanes != 0) {
    alignas(64) float args[L::kWidth], values[L::kWidth];
    L::ToArray(args, a);
    L::ToArray(values, sin2);
    for (int i = 0; i < L::kWidth; ++i) {
      if ((slow_lanes >> i) & 1u) {
        const float s = slow_sin(args[i]);
        values[i] = s * s;
      }
    }
    sin2 = L::FromArray(values);
  }
  return L::Fmadd(inv_beta_v, sin2, xv);
}

// One vector of elements into y (kTail: the `mask` lanes only).
template <typename L, bool kTail, bool kPerChannel>
inline void SnakeVector(const float* x, float* y, typename L::Mask mask, const float* alpha, const float* inv_beta,
                        SnakeSlowSinFn slow_sin) {
  const typename L::Vec yv = SnakeValue<L, kTail, kPerChannel>(x, mask, alpha, inv_beta, slow_sin);
  if (kTail) {
    L::StoreTail(y, mask, yv);
  } else {
    L::Store(y, yv);
  }
}

template <typename L, bool kPerChannel>
inline void SnakeRun(const float* x, float* y, int64_t n, const float* alpha, const float* inv_beta,
                     SnakeSlowSinFn slow_sin) {
  const int64_t full = n - n % L::kWidth;
  const int64_t step = kPerChannel ? 1 : 0;  // parameter pointers advance only per channel
  for (int64_t i = 0; i < full; i += L::kWidth) {
    SnakeVector<L, false, kPerChannel>(x + i, y + i, L::TailMask(0), alpha + step * i, inv_beta + step * i,
                                       slow_sin);
  }
  if (full < n) {
    SnakeVector<L, true, kPerChannel>(x + full, y + full, L::TailMask(n - full), alpha + step * full,
                                      inv_beta + step * full, slow_sin);
  }
}

}  // namespace qwen3tts::nn::snake_simd
