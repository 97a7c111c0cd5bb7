"""Group norm of NHWC tensors on the CPU, three ways (what @lab/backend-torch's
src/kernels/normalization.ts chose from): LibTorch's native_group_norm on the channels-last view,
its backward on contiguous copies (its channels-last backward is wrong in 1.13), and the
decomposition the backend used (per-channel sums over H·W, per-group arithmetic, multiply-adds;
still its gradient, while its forward pass is now the addon's two-pass groupNormNhwc since
2026-12-05 evening).
Prints each one's time (one thread) and its error against a float64 native reference, for
inputs of mean 10 and sigma 3 (where the one-pass variance is weakest).

  OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 \
    /usr/bin/python3 bench/torch/group_norm_cpu.py
"""
import time

import torch
torch.set_num_threads(1)
def t(f, n=30):
    for _ in range(3): f()
    s=time.perf_counter()
    for _ in range(n): f()
    return (time.perf_counter()-s)/n*1e3
G=32; eps=1e-5
def fwd(xn, g, b, G, dtype):
    B,H,W,C=xn.shape; Cg=C//G; N=H*W*Cg
    v=xn.view(B,H*W,C)
    s1=v.sum(1,dtype=dtype); s2=torch.square(v).sum(1,dtype=dtype)          # [B,C]
    m=s1.view(B,G,Cg).sum(2)/N; var=(s2.view(B,G,Cg).sum(2)/N-m*m).clamp_min(0)  # [B,G]
    rstd=torch.rsqrt(var+eps)
    scale=(rstd.view(B,G,1)*g.view(1,G,Cg).to(dtype)).view(B,1,C)
    shift=(b.to(dtype).view(1,1,C)-(m.view(B,G,1).expand(B,G,Cg).reshape(B,1,C))*scale)
    return torch.addcmul(shift.float(),v,scale.float()).view(B,H,W,C), m.float(), rstd.float()
def bwd(dyn, xn, mean, rstd, g, G, dtype):
    B,H,W,C=xn.shape; Cg=C//G; N=H*W*Cg
    v=xn.view(B,H*W,C); d=dyn.view(B,H*W,C)
    S1=d.sum(1,dtype=dtype); S2=(d*v).sum(1,dtype=dtype)     # [B,C]
    gd=g.to(dtype)
    A=(S1*gd).view(B,G,Cg).sum(2); Bs=(S2*gd).view(B,G,Cg).sum(2)   # [B,G]
    m=mean.to(dtype); r=rstd.to(dtype)
    k=r**3*(Bs-m*A)/N                                # [B,G]
    p=(r.view(B,G,1)*gd.view(1,G,Cg)).view(B,1,C)     # coefficient of dy
    q=(-k).view(B,G,1).expand(B,G,Cg).reshape(B,1,C)  # coefficient of x
    rr=(-r*A/N+m*k).view(B,G,1).expand(B,G,Cg).reshape(B,1,C)
    dx=torch.addcmul(torch.addcmul(rr.float(),v,q.float()),d,p.float())
    dgamma=(r.view(B,G,1).expand(B,G,Cg).reshape(B,C)*(S2-m.view(B,G,1).expand(B,G,Cg).reshape(B,C)*S1)).sum(0)
    dbeta=S1.sum(0)
    return dx.view(B,H,W,C), dgamma.float(), dbeta.float()
for B,C,H in [(32,64,32),(32,128,16),(32,256,8),(64,128,16)]:
    torch.manual_seed(0)
    xn=torch.randn(B,H,H,C)*3+10
    g=torch.randn(C); b=torch.randn(C); dyn=torch.randn(B,H,H,C)
    xc=xn.permute(0,3,1,2).contiguous(); dyc=dyn.permute(0,3,1,2).contiguous()
    y,mean,rstd=torch.ops.aten.native_group_norm(xc.double(),g.double(),b.double(),B,C,H*H,G,eps)
    dx,dg,db=torch.ops.aten.native_group_norm_backward(dyc.double(),xc.double(),mean,rstd,g.double(),B,C,H*H,G,[True,True,True])
    for dtype in (torch.float32,):
        y2,m2,r2=fwd(xn,g,b,G,dtype); dx2,dg2,db2=bwd(dyn,xn,m2,r2,g,G,dtype)
        yf,mf,rf=torch.ops.aten.native_group_norm(xc,g,b,B,C,H*H,G,eps)
        dxf,dgf,dbf=torch.ops.aten.native_group_norm_backward(dyc,xc,mf,rf,g,B,C,H*H,G,[True,True,True])
        e=lambda a,ref: ((a.double()-ref).abs().max()/ref.abs().max()).item()
        print(B,C,H,str(dtype)[6:],'rel err y %.1e (native f32 %.1e) dx %.1e (native %.1e) dg %.1e (native %.1e) db %.1e'%(e(y2.permute(0,3,1,2),y),e(yf,y),e(dx2.permute(0,3,1,2),dx),e(dxf,dx),e(dg2,dg),e(dgf,dg),e(db2,db)))
        print('   decomposed (the backend): fwd %.2f ms, bwd %.2f ms'%(t(lambda: fwd(xn,g,b,G,dtype)), t(lambda: bwd(dyn,xn,m2,r2,g,G,dtype))))
    xcl=xn.permute(0,3,1,2); dycl=dyn.permute(0,3,1,2)
    print('   LibTorch native: fwd on the channels_last view %.2f ms, bwd on contiguous copies %.2f ms; on contiguous NCHW (PyTorch\'s layout) fwd %.2f bwd %.2f'%(
      t(lambda: torch.ops.aten.native_group_norm(xcl,g,b,B,C,H*H,G,eps)),
      t(lambda: torch.ops.aten.native_group_norm_backward(dycl.contiguous(),xcl.contiguous(),mf,rf,g,B,C,H*H,G,[True,True,True])),
      t(lambda: torch.ops.aten.native_group_norm(xc,g,b,B,C,H*H,G,eps)),
      t(lambda: torch.ops.aten.native_group_norm_backward(dyc,xc,mf,rf,g,B,C,H*H,G,[True,True,True]))))
