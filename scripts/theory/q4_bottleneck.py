# Q4: three stride-2 3x3 convolutions (padding 1) applied to a 64x64 image.
import torch

x = torch.zeros(1, 3, 64, 64)
for _ in range(3):
    x = torch.nn.Conv2d(x.shape[1], x.shape[1], kernel_size=3, stride=2, padding=1)(x)
    print(tuple(x.shape))
