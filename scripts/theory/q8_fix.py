import torch

x = torch.tensor([1.0], requires_grad=True)
y = x * 3
z = y.clone()  # a separate tensor that stays in the graph (or simply z = y)
w = z * 2

w.backward()
print("x.grad =", x.grad)
