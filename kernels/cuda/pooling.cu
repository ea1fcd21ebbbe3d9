// Max and average pooling, forward and backward (CUDA C for CuPy's RawModule).
//
// The including code defines `real_t` (float or double). x: (N, C, H, W),
// y: (N, C, OH, OW); window (oh, ow) covers rows oh*SH - PH .. oh*SH - PH + KH - 1
// (and the same for columns); rows outside [0, H) are padding.
typedef double acc_t;

// One thread per output: the largest value of the window and its flat index
// h*W + w in the input plane. Ties keep the first maximum in row-major window
// order (strict >); a NaN wins over numbers, as in PyTorch. Padding never wins.
extern "C" __global__ void max_pool2d_forward(
    const real_t* x, real_t* y, long long* argmax,
    long long N, long long C, long long H, long long W,
    long long KH, long long KW, long long SH, long long SW,
    long long PH, long long PW, long long OH, long long OW)
{
    long long total = N * C * OH * OW;
    long long stride = (long long)blockDim.x * gridDim.x;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total;
         t += stride) {
        long long ow = t % OW;
        long long oh = (t / OW) % OH;
        const real_t* plane = x + (t / (OH * OW)) * H * W;
        real_t best = 0;
        long long arg = -1;  // -1: nothing seen yet
        for (long long i = 0; i < KH; ++i) {
            long long h = oh * SH - PH + i;
            if (h < 0 || h >= H) {
                continue;
            }
            for (long long j = 0; j < KW; ++j) {
                long long w = ow * SW - PW + j;
                if (w < 0 || w >= W) {
                    continue;
                }
                real_t v = plane[h * W + w];
                bool v_nan = v != v;
                bool best_nan = best != best;
                if (arg < 0 || (v > best && !best_nan) || (v_nan && !best_nan)) {
                    best = v;
                    arg = h * W + w;
                }
            }
        }
        y[t] = best;
        argmax[t] = arg;
    }
}

// One thread per (n, c) plane adds every output gradient to the input pixel
// that won its window, walking the outputs in row-major order. Windows can
// overlap, so one pixel may receive several gradients; giving each plane to a
// single thread makes that sum race-free without atomics, in a fixed order.
// gx must be zero on entry.
extern "C" __global__ void max_pool2d_backward(
    const real_t* gy, const long long* argmax, real_t* gx,
    long long planes, long long HW, long long OHW)
{
    long long stride = (long long)blockDim.x * gridDim.x;
    for (long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x; p < planes;
         p += stride) {
        for (long long q = p * OHW; q < (p + 1) * OHW; ++q) {
            if (argmax[q] >= 0) {  // -1 only for a window with no input pixel
                gx[p * HW + argmax[q]] += gy[q];
            }
        }
    }
}

// One thread per output: the sum of the window's pixels inside the input,
// divided by PyTorch's count for that window (divisor: (OH, OW), computed by
// the NumPy reference, which knows count_include_pad and divisor_override).
extern "C" __global__ void avg_pool2d_forward(
    const real_t* x, const real_t* divisor, real_t* y,
    long long N, long long C, long long H, long long W,
    long long KH, long long KW, long long SH, long long SW,
    long long PH, long long PW, long long OH, long long OW)
{
    long long total = N * C * OH * OW;
    long long stride = (long long)blockDim.x * gridDim.x;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total;
         t += stride) {
        long long ow = t % OW;
        long long oh = (t / OW) % OH;
        const real_t* plane = x + (t / (OH * OW)) * H * W;
        acc_t acc = 0;
        for (long long i = 0; i < KH; ++i) {
            long long h = oh * SH - PH + i;
            if (h < 0 || h >= H) {
                continue;
            }
            for (long long j = 0; j < KW; ++j) {
                long long w = ow * SW - PW + j;
                if (w >= 0 && w < W) {
                    acc += plane[h * W + w];
                }
            }
        }
        y[t] = (real_t)(acc / (acc_t)divisor[oh * OW + ow]);
    }
}

// Gather: one thread per input pixel (n, c, h, w) adds gy / divisor of every
// window that covers it. Row h is in window oh when
// oh*SH - PH <= h <= oh*SH - PH + KH - 1, i.e.
// ceil((h + PH - KH + 1) / SH) <= oh <= floor((h + PH) / SH).
extern "C" __global__ void avg_pool2d_backward(
    const real_t* gy, const real_t* divisor, real_t* gx,
    long long N, long long C, long long H, long long W,
    long long KH, long long KW, long long SH, long long SW,
    long long PH, long long PW, long long OH, long long OW)
{
    long long total = N * C * H * W;
    long long stride = (long long)blockDim.x * gridDim.x;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total;
         t += stride) {
        long long w = t % W;
        long long h = (t / W) % H;
        const real_t* gplane = gy + (t / (H * W)) * OH * OW;
        long long lo_h = h + PH - KH + 1;
        long long lo_w = w + PW - KW + 1;
        long long oh0 = lo_h <= 0 ? 0 : (lo_h + SH - 1) / SH;
        long long ow0 = lo_w <= 0 ? 0 : (lo_w + SW - 1) / SW;
        long long oh1 = (h + PH) / SH < OH - 1 ? (h + PH) / SH : OH - 1;
        long long ow1 = (w + PW) / SW < OW - 1 ? (w + PW) / SW : OW - 1;
        acc_t acc = 0;
        for (long long oh = oh0; oh <= oh1; ++oh) {
            for (long long ow = ow0; ow <= ow1; ++ow) {
                acc += (acc_t)gplane[oh * OW + ow] / (acc_t)divisor[oh * OW + ow];
            }
        }
        gx[t] = (real_t)acc;
    }
}
