# Q5: the weights of x0 and noise in x_t for the linear DDPM schedule (T = 1000, betas 1e-4 .. 0.02).
import math

T = 1000
betas = [1e-4 + (0.02 - 1e-4) * i / (T - 1) for i in range(T)]
alpha_bar, cumulative = [], 1.0
for beta in betas:
    cumulative *= 1.0 - beta
    alpha_bar.append(cumulative)

for t in (1, 250, 500, 1000):  # 1-based as in the DDPM paper; genlab's 0-based index is t - 1
    a = alpha_bar[t - 1]
    print(f"t={t:4d} (index {t - 1:3d})  alpha_bar={a:.6f}  sqrt(alpha_bar)={math.sqrt(a):.6f}  sqrt(1-alpha_bar)={math.sqrt(1 - a):.6f}")
