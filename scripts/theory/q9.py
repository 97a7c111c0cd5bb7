import torch

x = torch.tensor([1.0], requires_grad=True)

y1 = x * 2
y1.backward()
print("After first backward: x.grad =", x.grad)

y2 = x * 3
y2.backward()
print("After second backward: x.grad =", x.grad)
