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

# One pixel worked through: x0 = 0.5, noise eps = -1.2 at t = 500, and a network that predicts eps_hat = -1.0.
x0, eps, eps_hat = 0.5, -1.2, -1.0
a = alpha_bar[500 - 1]
x_t = math.sqrt(a) * x0 + math.sqrt(1 - a) * eps
print(f"x_t = {math.sqrt(a):.6f} * {x0} + {math.sqrt(1 - a):.6f} * ({eps}) = {x_t:.6f}")
print(f"squared error (eps_hat - eps)^2 = {(eps_hat - eps) ** 2:.6f}")
x0_hat = (x_t - math.sqrt(1 - a) * eps_hat) / math.sqrt(a)
print(f"x0_hat = (x_t - sqrt(1-alpha_bar) * eps_hat) / sqrt(alpha_bar) = {x0_hat:.6f}")
