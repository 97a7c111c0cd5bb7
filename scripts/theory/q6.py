import torch

# Create a tensor with requires_grad=True
x = torch.tensor([2.0], requires_grad=True)

# Define a simple function y = x2 + 3x
y = x**2 + 3 * x

# Backpropagate
y.backward()

# Print the gradient
print("x.grad =", x.grad)
