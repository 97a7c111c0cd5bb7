import torch

# Accumulating on purpose: two micro-batches of 2 give the gradient of the full batch of 4.
torch.manual_seed(0)
inputs, targets = torch.randn(4, 3), torch.randn(4)
w = torch.zeros(3, requires_grad=True)

def loss_of(xb, yb):
    return ((xb @ w - yb) ** 2).mean()

loss_of(inputs, targets).backward()
full = w.grad.clone()

w.grad = None
for xb, yb in zip(inputs.split(2), targets.split(2)):
    (loss_of(xb, yb) / 2).backward()  # divide by the number of micro-batches
print("full batch equals accumulated micro-batches:", torch.allclose(full, w.grad))
