// Local response normalisation across channels (CUDA C for CuPy's RawModule).
//
// The including code defines `real_t`. x, y, scale: (N, C, HW). Channel c's
// window is c - size/2 .. c + (size-1)/2 (PyTorch's padding), clipped to [0, C):
//   scale[c] = k + alpha/size * sum_{c' in window(c)} x[c']^2
//   y[c]     = x[c] * scale[c]^-beta
typedef double acc_t;

// One thread per element; it sums the squares of its channel window.
extern "C" __global__ void lrn_forward(
    const real_t* x, real_t* y, real_t* scale,
    long long N, long long C, long long HW,
    long long size, double alpha, double beta, double k)
{
    long long total = N * C * HW;
    long long stride = (long long)blockDim.x * gridDim.x;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total;
         t += stride) {
        long long hw = t % HW;
        long long c = (t / HW) % C;
        long long base = (t / (HW * C)) * C * HW + hw;  // (n, 0, hw)
        long long c0 = c - size / 2 > 0 ? c - size / 2 : 0;
        long long c1 = c + (size - 1) / 2 < C - 1 ? c + (size - 1) / 2 : C - 1;
        acc_t acc = 0;
        for (long long cc = c0; cc <= c1; ++cc) {
            acc_t v = x[base + cc * HW];
            acc += v * v;
        }
        acc_t s = k + alpha / size * acc;
        scale[t] = (real_t)s;
        y[t] = (real_t)((acc_t)x[t] * pow(s, -beta));
    }
}

// dy[c']/dx[c] = [c == c'] scale[c]^-beta - 2*alpha*beta/size * x[c] * y[c'] / scale[c']
// for every c' whose window holds c, i.e. c' in c - (size-1)/2 .. c + size/2:
//   gx[c] = gy[c] scale[c]^-beta
//           - 2*alpha*beta/size * x[c] * sum_{c'} gy[c'] y[c'] / scale[c']
extern "C" __global__ void lrn_backward(
    const real_t* gy, const real_t* x, const real_t* y, const real_t* scale, real_t* gx,
    long long N, long long C, long long HW,
    long long size, double alpha, double beta, double k)
{
    long long total = N * C * HW;
    long long stride = (long long)blockDim.x * gridDim.x;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total;
         t += stride) {
        long long hw = t % HW;
        long long c = (t / HW) % C;
        long long base = (t / (HW * C)) * C * HW + hw;
        long long c0 = c - (size - 1) / 2 > 0 ? c - (size - 1) / 2 : 0;
        long long c1 = c + size / 2 < C - 1 ? c + size / 2 : C - 1;
        acc_t acc = 0;
        for (long long cc = c0; cc <= c1; ++cc) {
            long long q = base + cc * HW;
            acc += (acc_t)gy[q] * (acc_t)y[q] / (acc_t)scale[q];
        }
        acc_t g = (acc_t)gy[t] * pow((acc_t)scale[t], -beta)
                  - 2.0 * alpha * beta / size * (acc_t)x[t] * acc;
        gx[t] = (real_t)g;
    }
}
