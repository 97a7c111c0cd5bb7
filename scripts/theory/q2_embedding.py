# Q2: the 8-dim sinusoidal embedding of t = 1 (max period 10000) in the common layouts.
import math

t, dim, max_period = 1.0, 8, 10000.0
half = dim // 2


def frequencies(denominator):
    # freq_i = max_period^(-i / denominator) = exp(-ln(max_period) * i / denominator)
    return [math.exp(-math.log(max_period) * i / denominator) for i in range(half)]


def fmt(xs):
    return "[" + ", ".join(f"{x:.6f}" for x in xs) + "]"


for name, denominator in (("transformer", half), ("ddpm", half - 1)):
    freqs = frequencies(denominator)
    sines = [math.sin(t * f) for f in freqs]
    cosines = [math.cos(t * f) for f in freqs]
    print(f"{name:<11} freqs       = {fmt(freqs)}")
    print(f"{name:<11} sin-cos     = {fmt(sines + cosines)}")
    print(f"{name:<11} cos-sin     = {fmt(cosines + sines)}")
    print(f"{name:<11} interleaved = {fmt([v for pair in zip(sines, cosines) for v in pair])}")
