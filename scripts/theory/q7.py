import torch

# Create a tensor with requires_grad=True
x = torch.tensor([2.0], requires_grad=True)
w = torch.tensor([1.0, 3.0])

# Define a simple function y = x2 + 3x
y = w[0] * x**2 + w[1] * x

# Backpropagate
y.backward()

# Print the gradient
print("x.grad =", x.grad)
print("w.grad =", w.grad)
