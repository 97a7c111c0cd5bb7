import torch

x = torch.tensor([1.0], requires_grad=True)
y = x * 3
z = y.detach().requires_grad_()  # z becomes a new leaf: backward runs, but stops at z
w = z * 2

w.backward()
print("z.grad =", z.grad)
print("x.grad =", x.grad)
