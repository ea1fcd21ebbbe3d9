// im2col and col2im for NCHW images (CUDA C, compiled by CuPy's RawModule).
//
// The including code defines `real_t` (float or double) before this text;
// sums are accumulated in double (`acc_t`). Every loop is a grid-stride loop,
// so any grid size covers every element.
//
//   OH = (H + 2*PH - DH*(KH-1) - 1) / SH + 1        (same for OW)
//   cols[n, c*KH*KW + i*KW + j, oh*OW + ow] = x[n, c, oh*SH - PH + i*DH, ow*SW - PW + j*DW]
//   (0 where that pixel lies in the padding): torch.nn.functional.unfold's layout.
typedef double acc_t;

// One thread per column element: t walks cols as (N, C, KH, KW, OH, OW) in C order.
extern "C" __global__ void im2col(
    const real_t* x, real_t* cols,
    long long N, long long C, long long H, long long W,
    long long KH, long long KW, long long SH, long long SW,
    long long PH, long long PW, long long DH, long long DW,
    long long OH, long long OW)
{
    long long total = N * C * KH * KW * OH * OW;
    long long stride = (long long)blockDim.x * gridDim.x;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total;
         t += stride) {
        long long ow = t % OW;
        long long r = t / OW;
        long long oh = r % OH;
        r /= OH;
        long long j = r % KW;
        r /= KW;
        long long i = r % KH;
        r /= KH;
        long long c = r % C;
        long long n = r / C;
        long long h = oh * SH - PH + i * DH;
        long long w = ow * SW - PW + j * DW;
        bool inside = h >= 0 && h < H && w >= 0 && w < W;
        cols[t] = inside ? x[((n * C + c) * H + h) * W + w] : (real_t)0;
    }
}

// col2im as a gather: one thread per input pixel (n, c, h, w) adds up every
// column entry that was copied from it. Pixel h came from kernel row i at
// output row oh when h = oh*SH - PH + i*DH, i.e. oh = (h + PH - i*DH) / SH
// must divide exactly and lie in [0, OH). No two threads write the same
// pixel: no atomics, and the sum order is fixed (deterministic).
extern "C" __global__ void col2im(
    const real_t* cols, real_t* x,
    long long N, long long C, long long H, long long W,
    long long KH, long long KW, long long SH, long long SW,
    long long PH, long long PW, long long DH, long long DW,
    long long OH, long long OW)
{
    long long total = N * C * H * W;
    long long stride = (long long)blockDim.x * gridDim.x;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total;
         t += stride) {
        long long w = t % W;
        long long r = t / W;
        long long h = r % H;
        long long nc = r / H;  // n*C + c
        acc_t acc = 0;
        for (long long i = 0; i < KH; ++i) {
            long long hh = h + PH - i * DH;
            if (hh < 0 || hh % SH != 0 || hh / SH >= OH) {
                continue;
            }
            long long oh = hh / SH;
            for (long long j = 0; j < KW; ++j) {
                long long ww = w + PW - j * DW;
                if (ww < 0 || ww % SW != 0 || ww / SW >= OW) {
                    continue;
                }
                long long ow = ww / SW;
                acc += cols[((nc * KH + i) * KW + j) * OH * OW + oh * OW + ow];
            }
        }
        x[t] = (real_t)acc;
    }
}
