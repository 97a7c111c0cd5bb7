import torch

x = torch.tensor([2.0])
print("requires_grad by default:", x.requires_grad)
