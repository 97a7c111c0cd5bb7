import torch

x = torch.tensor([2.0], requires_grad=True)
w = torch.tensor([1.0, 3.0], requires_grad=True)  # the only change: track w

y = w[0] * x**2 + w[1] * x
y.backward()

print("x.grad =", x.grad)
print("w.grad =", w.grad)
