import torch

x = torch.tensor([2.0], requires_grad=False)
y = x**2 + 3 * x
print("y =", y, "| y.requires_grad =", y.requires_grad, "| y.grad_fn =", y.grad_fn)
y.backward()
print("x.grad =", x.grad)
