import torch

x = torch.tensor([1.0], requires_grad=True)
y = x * 3
z = y.detach()
w = z * 2

w.backward() # This will raise an error
