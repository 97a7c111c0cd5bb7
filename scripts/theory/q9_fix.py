import torch

x = torch.tensor([1.0], requires_grad=True)
optimizer = torch.optim.SGD([x], lr=0.1)

y1 = x * 2
y1.backward()
print("After first backward: x.grad =", x.grad)

optimizer.zero_grad()  # or x.grad = None / x.grad.zero_() without an optimizer
y2 = x * 3
y2.backward()
print("After second backward: x.grad =", x.grad)
