"""The hot loops as Numba CUDA kernels: twins of the CUDA C sources (*.cu).

Each kernel here has the same name, the same arguments (in the same order)
and the same thread layout as its CUDA C twin, so ``launch.launch`` can run
either one. On a machine without a GPU they run under Numba's CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``), which is how the tests check the algorithms;
on a GPU, ``set_kernel_source('numba')`` runs them on CuPy arrays.

Sums are accumulated in float64 (``acc = float64(0)``), as the CUDA C kernels
do with ``acc_t``. Loops over elements are grid-stride loops: thread t
handles t, t + stride, t + 2*stride, ..., so any grid covers every element.
"""
import math

from numba import cuda, float64

__all__ = [
    "im2col", "col2im", "max_pool2d_forward", "max_pool2d_backward",
    "avg_pool2d_forward", "avg_pool2d_backward", "lrn_forward", "lrn_backward",
    "batch_norm_forward", "batch_norm_backward", "softmax_cross_entropy_forward",
    "softmax_cross_entropy_backward", "relu_forward", "relu_backward", "dropout_forward",
    "sgd_step", "REDUCE_BLOCK",
]

REDUCE_BLOCK = 256  # shared-memory size of the one-block-per-row reductions


# ------------------------------------------------------------------ im2col / col2im
@cuda.jit
def im2col(x, cols, N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW):
    """One thread per column element; t walks cols as (N, C, KH, KW, OH, OW).

    cols[n, c*KH*KW + i*KW + j, oh*OW + ow] = x[n, c, oh*SH-PH+i*DH, ow*SW-PW+j*DW]
    (0 in the padding). x and cols are flat (1-D) views.
    """
    total = N * C * KH * KW * OH * OW
    for t in range(cuda.grid(1), total, cuda.gridsize(1)):
        ow = t % OW
        r = t // OW
        oh = r % OH
        r //= OH
        j = r % KW
        r //= KW
        i = r % KH
        r //= KH
        c = r % C
        n = r // C
        h = oh * SH - PH + i * DH
        w = ow * SW - PW + j * DW
        if h >= 0 and h < H and w >= 0 and w < W:
            cols[t] = x[((n * C + c) * H + h) * W + w]
        else:
            cols[t] = 0


@cuda.jit
def col2im(cols, x, N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW):
    """Gather: one thread per input pixel sums the column entries copied from it.

    Pixel h came from kernel row i at output row oh = (h + PH - i*DH) / SH when
    that divides exactly and 0 <= oh < OH. One writer per pixel: no atomics.
    """
    total = N * C * H * W
    for t in range(cuda.grid(1), total, cuda.gridsize(1)):
        w = t % W
        r = t // W
        h = r % H
        nc = r // H  # n*C + c
        acc = float64(0)
        for i in range(KH):
            hh = h + PH - i * DH
            if hh < 0 or hh % SH != 0 or hh // SH >= OH:
                continue
            oh = hh // SH
            for j in range(KW):
                ww = w + PW - j * DW
                if ww < 0 or ww % SW != 0 or ww // SW >= OW:
                    continue
                ow = ww // SW
                acc += cols[((nc * KH + i) * KW + j) * OH * OW + oh * OW + ow]
        x[t] = acc


# ------------------------------------------------------------------------ pooling
@cuda.jit
def max_pool2d_forward(x, y, argmax, N, C, H, W, KH, KW, SH, SW, PH, PW, OH, OW):
    """One thread per output: the window's maximum and its flat index h*W + w.

    Ties keep the first maximum in row-major order; a NaN wins over numbers.
    """
    total = N * C * OH * OW
    for t in range(cuda.grid(1), total, cuda.gridsize(1)):
        ow = t % OW
        oh = (t // OW) % OH
        base = (t // (OH * OW)) * H * W
        best = x[base]
        arg = -1  # nothing seen yet
        for i in range(KH):
            h = oh * SH - PH + i
            if h < 0 or h >= H:
                continue
            for j in range(KW):
                w = ow * SW - PW + j
                if w < 0 or w >= W:
                    continue
                v = x[base + h * W + w]
                best_nan = best != best
                if arg < 0 or (v > best and not best_nan) or (v != v and not best_nan):
                    best = v
                    arg = h * W + w
        y[t] = best
        argmax[t] = arg


@cuda.jit
def max_pool2d_backward(gy, argmax, gx, planes, HW, OHW):
    """One thread per (n, c) plane adds each output gradient to its window's winner.

    Overlapping windows may share a winner; one thread per plane makes that
    sum race-free and ordered without atomics. gx is zero on entry.
    """
    for p in range(cuda.grid(1), planes, cuda.gridsize(1)):
        for q in range(p * OHW, (p + 1) * OHW):
            if argmax[q] >= 0:
                gx[p * HW + argmax[q]] += gy[q]


@cuda.jit
def avg_pool2d_forward(x, divisor, y, N, C, H, W, KH, KW, SH, SW, PH, PW, OH, OW):
    """One thread per output: the sum of the window inside x over divisor[oh, ow]."""
    total = N * C * OH * OW
    for t in range(cuda.grid(1), total, cuda.gridsize(1)):
        ow = t % OW
        oh = (t // OW) % OH
        base = (t // (OH * OW)) * H * W
        acc = float64(0)
        for i in range(KH):
            h = oh * SH - PH + i
            if h < 0 or h >= H:
                continue
            for j in range(KW):
                w = ow * SW - PW + j
                if w >= 0 and w < W:
                    acc += x[base + h * W + w]
        y[t] = acc / divisor[oh * OW + ow]


@cuda.jit
def avg_pool2d_backward(gy, divisor, gx, N, C, H, W, KH, KW, SH, SW, PH, PW, OH, OW):
    """Gather: one thread per input pixel adds gy / divisor of every window over it.

    Row h is in window oh when ceil((h + PH - KH + 1) / SH) <= oh <= (h + PH) // SH.
    """
    total = N * C * H * W
    for t in range(cuda.grid(1), total, cuda.gridsize(1)):
        w = t % W
        h = (t // W) % H
        gbase = (t // (H * W)) * OH * OW
        lo_h = h + PH - KH + 1
        lo_w = w + PW - KW + 1
        oh0 = 0 if lo_h <= 0 else (lo_h + SH - 1) // SH
        ow0 = 0 if lo_w <= 0 else (lo_w + SW - 1) // SW
        oh1 = min((h + PH) // SH, OH - 1)
        ow1 = min((w + PW) // SW, OW - 1)
        acc = float64(0)
        for oh in range(oh0, oh1 + 1):
            for ow in range(ow0, ow1 + 1):
                acc += float64(gy[gbase + oh * OW + ow]) / float64(divisor[oh * OW + ow])
        gx[t] = acc


# ---------------------------------------------------------------------------- LRN
@cuda.jit
def lrn_forward(x, y, scale, N, C, HW, size, alpha, beta, k):
    """One thread per element: scale = k + alpha/size * sum of x^2 over the
    channel window c - size//2 .. c + (size-1)//2, and y = x * scale^-beta."""
    total = N * C * HW
    for t in range(cuda.grid(1), total, cuda.gridsize(1)):
        hw = t % HW
        c = (t // HW) % C
        base = (t // (HW * C)) * C * HW + hw  # (n, 0, hw)
        acc = float64(0)
        for cc in range(max(c - size // 2, 0), min(c + (size - 1) // 2, C - 1) + 1):
            v = float64(x[base + cc * HW])
            acc += v * v
        s = k + alpha / size * acc
        scale[t] = s
        y[t] = float64(x[t]) * math.pow(s, -beta)


@cuda.jit
def lrn_backward(gy, x, y, scale, gx, N, C, HW, size, alpha, beta, k):
    """gx[c] = gy[c] scale[c]^-beta - 2 alpha beta/size x[c] sum_{c'} gy[c'] y[c']/scale[c']
    over the channels c' whose window holds c: c - (size-1)//2 .. c + size//2."""
    total = N * C * HW
    for t in range(cuda.grid(1), total, cuda.gridsize(1)):
        hw = t % HW
        c = (t // HW) % C
        base = (t // (HW * C)) * C * HW + hw
        acc = float64(0)
        for cc in range(max(c - (size - 1) // 2, 0), min(c + size // 2, C - 1) + 1):
            q = base + cc * HW
            acc += float64(gy[q]) * float64(y[q]) / float64(scale[q])
        gx[t] = (float64(gy[t]) * math.pow(float64(scale[t]), -beta)
                 - 2.0 * alpha * beta / size * float64(x[t]) * acc)


# ---------------------------------------------------------------------- BatchNorm
@cuda.jit(device=True)
def _block_sum(value, shared):
    """Tree-sum every thread's value in shared memory; all threads get the total."""
    tid = cuda.threadIdx.x
    shared[tid] = value
    cuda.syncthreads()
    half = cuda.blockDim.x // 2
    while half > 0:
        if tid < half:
            shared[tid] += shared[tid + half]
        cuda.syncthreads()
        half //= 2
    total = shared[0]
    cuda.syncthreads()  # everyone has read shared[0] before it is reused
    return total


@cuda.jit
def batch_norm_forward(x, weight, bias, y, mean_out, var_out, inv_std_out,
                       N, C, L, eps, has_weight, has_bias):
    """One block per channel c of x (N, C, L) flat; blockDim.x a power of two.

    mean = sum x / M, var = sum (x - mean)^2 / M (M = N*L), inv_std = 1/sqrt(var + eps),
    y = (x - mean) * inv_std * weight + bias.
    """
    shared = cuda.shared.array(REDUCE_BLOCK, float64)
    c = cuda.blockIdx.x
    M = N * L
    part = float64(0)
    for m in range(cuda.threadIdx.x, M, cuda.blockDim.x):
        part += x[((m // L) * C + c) * L + m % L]
    mean = _block_sum(part, shared) / M
    part = float64(0)
    for m in range(cuda.threadIdx.x, M, cuda.blockDim.x):
        d = x[((m // L) * C + c) * L + m % L] - mean
        part += d * d
    var = _block_sum(part, shared) / M
    inv_std = 1.0 / math.sqrt(var + eps)
    w = float64(weight[c]) if has_weight else 1.0
    b = float64(bias[c]) if has_bias else 0.0
    for m in range(cuda.threadIdx.x, M, cuda.blockDim.x):
        q = ((m // L) * C + c) * L + m % L
        y[q] = (float64(x[q]) - mean) * inv_std * w + b
    if cuda.threadIdx.x == 0:
        mean_out[c] = mean
        var_out[c] = var
        inv_std_out[c] = inv_std


@cuda.jit
def batch_norm_backward(gy, x, mean, inv_std, weight, gx, gweight, gbias,
                        N, C, L, has_weight):
    """One block per channel: gbias = sum gy, gweight = sum gy * xhat,
    gx = weight * inv_std / M * (M gy - gbias - xhat gweight)."""
    shared = cuda.shared.array(REDUCE_BLOCK, float64)
    c = cuda.blockIdx.x
    M = N * L
    mu = float64(mean[c])
    istd = float64(inv_std[c])
    part_b = float64(0)
    part_w = float64(0)
    for m in range(cuda.threadIdx.x, M, cuda.blockDim.x):
        q = ((m // L) * C + c) * L + m % L
        part_b += gy[q]
        part_w += float64(gy[q]) * (float64(x[q]) - mu) * istd
    gb = _block_sum(part_b, shared)
    gw = _block_sum(part_w, shared)
    w = float64(weight[c]) if has_weight else 1.0
    for m in range(cuda.threadIdx.x, M, cuda.blockDim.x):
        q = ((m // L) * C + c) * L + m % L
        xhat = (float64(x[q]) - mu) * istd
        gx[q] = w * istd / M * (M * float64(gy[q]) - gb - xhat * gw)
    if cuda.threadIdx.x == 0:
        gweight[c] = gw
        gbias[c] = gb


# ------------------------------------------------------------ softmax cross-entropy
@cuda.jit(device=True)
def _block_max(value, shared):
    """Tree-max every thread's value in shared memory; all threads get the maximum."""
    tid = cuda.threadIdx.x
    shared[tid] = value
    cuda.syncthreads()
    half = cuda.blockDim.x // 2
    while half > 0:
        if tid < half and shared[tid + half] > shared[tid]:
            shared[tid] = shared[tid + half]
        cuda.syncthreads()
        half //= 2
    total = shared[0]
    cuda.syncthreads()
    return total


@cuda.jit
def softmax_cross_entropy_forward(logits, target, loss, probs, N, K, label_smoothing):
    """One block per row n of logits (N, K) flat: lse = max + log sum exp(x - max),
    loss = (1 - ls)(lse - x_t) + ls (lse - sum x / K), probs = exp(x - lse)."""
    shared = cuda.shared.array(REDUCE_BLOCK, float64)
    n = cuda.blockIdx.x
    row = n * K
    part = float64(logits[row])
    for k in range(cuda.threadIdx.x, K, cuda.blockDim.x):
        if logits[row + k] > part:
            part = float64(logits[row + k])
    mx = _block_max(part, shared)
    part_exp = float64(0)
    part_sum = float64(0)
    for k in range(cuda.threadIdx.x, K, cuda.blockDim.x):
        part_exp += math.exp(float64(logits[row + k]) - mx)
        part_sum += logits[row + k]
    lse = mx + math.log(_block_sum(part_exp, shared))
    sum_x = _block_sum(part_sum, shared)
    for k in range(cuda.threadIdx.x, K, cuda.blockDim.x):
        probs[row + k] = math.exp(float64(logits[row + k]) - lse)
    if cuda.threadIdx.x == 0:
        x_t = float64(logits[row + target[n]])
        loss[n] = ((1.0 - label_smoothing) * (lse - x_t)
                   + label_smoothing * (lse - sum_x / K))


@cuda.jit
def softmax_cross_entropy_backward(probs, target, gloss, glogits, N, K, label_smoothing):
    """One thread per logit: gloss[n] * (probs - (1 - ls) onehot(t) - ls / K)."""
    for t in range(cuda.grid(1), N * K, cuda.gridsize(1)):
        n = t // K
        onehot = 1.0 if target[n] == t % K else 0.0
        g = float64(probs[t]) - (1.0 - label_smoothing) * onehot - label_smoothing / K
        glogits[t] = float64(gloss[n]) * g


# ------------------------------------------------------------------- elementwise
@cuda.jit
def relu_forward(x, y, n):
    """y = max(x, 0); NaN stays NaN."""
    for t in range(cuda.grid(1), n, cuda.gridsize(1)):
        v = x[t]
        y[t] = v if (v > 0 or v != v) else 0


@cuda.jit
def relu_backward(gy, y, gx, n):
    """gx = gy where y > 0, else 0."""
    for t in range(cuda.grid(1), n, cuda.gridsize(1)):
        gx[t] = gy[t] if y[t] > 0 else 0


@cuda.jit
def dropout_forward(x, u, y, mask, n, p, scale):
    """mask = scale (= 1/(1-p), in x's dtype) where u >= p else 0; y = x * mask."""
    for t in range(cuda.grid(1), n, cuda.gridsize(1)):
        m = scale if u[t] >= p else scale * 0
        mask[t] = m
        y[t] = x[t] * m


@cuda.jit
def sgd_step(param, grad, buf, n, lr, momentum, one_minus_dampening, weight_decay,
             use_momentum, nesterov, first):
    """PyTorch's SGD in place, in the parameter's dtype (the scalars come in it):
    d = grad + wd * param; buf = d (first) or momentum buf + (1 - dampening) d;
    d = d + momentum buf (nesterov) or buf; param -= lr d."""
    for t in range(cuda.grid(1), n, cuda.gridsize(1)):
        d = grad[t]
        if weight_decay != 0:
            d = d + weight_decay * param[t]
        if use_momentum:
            if first:
                b = d
            else:
                b = momentum * buf[t] + one_minus_dampening * d
            buf[t] = b
            if nesterov:
                d = d + momentum * b
            else:
                d = b
        param[t] = param[t] - lr * d
