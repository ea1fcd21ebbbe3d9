// Fused batch normalisation, training mode (CUDA C for CuPy's RawModule).
//
// The including code defines `real_t`. x, y: (N, C, L) with L = H*W (1 for
// 2-D input); M = N*L values per channel. One block per channel c; its
// threads (blockDim.x a power of two <= BN_BLOCK) stride over the M values
// and combine their partial sums with a tree reduction in shared memory,
// always in the same order (deterministic). Sums are in double.
//   mean = sum x / M,  var = sum (x - mean)^2 / M  (biased),  inv_std = 1/sqrt(var + eps)
//   y = (x - mean) * inv_std * weight + bias
typedef double acc_t;
#define BN_BLOCK 256

// Sum of every thread's `value`, returned to all threads of the block.
__device__ acc_t block_sum(acc_t value, acc_t* shared)
{
    unsigned int tid = threadIdx.x;
    shared[tid] = value;
    __syncthreads();
    for (unsigned int half = blockDim.x / 2; half > 0; half /= 2) {
        if (tid < half) {
            shared[tid] += shared[tid + half];
        }
        __syncthreads();
    }
    acc_t total = shared[0];
    __syncthreads();  // everyone has read shared[0] before it is reused
    return total;
}

extern "C" __global__ void batch_norm_forward(
    const real_t* x, const real_t* weight, const real_t* bias,
    real_t* y, real_t* mean_out, real_t* var_out, real_t* inv_std_out,
    long long N, long long C, long long L, double eps,
    long long has_weight, long long has_bias)
{
    __shared__ acc_t shared[BN_BLOCK];
    long long c = blockIdx.x;
    long long M = N * L;
    acc_t part = 0;
    for (long long m = threadIdx.x; m < M; m += blockDim.x) {
        part += x[((m / L) * C + c) * L + m % L];
    }
    acc_t mean = block_sum(part, shared) / M;
    part = 0;
    for (long long m = threadIdx.x; m < M; m += blockDim.x) {
        acc_t d = x[((m / L) * C + c) * L + m % L] - mean;
        part += d * d;
    }
    acc_t var = block_sum(part, shared) / M;
    acc_t inv_std = 1.0 / sqrt(var + eps);
    acc_t w = has_weight ? (acc_t)weight[c] : 1.0;
    acc_t b = has_bias ? (acc_t)bias[c] : 0.0;
    for (long long m = threadIdx.x; m < M; m += blockDim.x) {
        long long q = ((m / L) * C + c) * L + m % L;
        y[q] = (real_t)(((acc_t)x[q] - mean) * inv_std * w + b);
    }
    if (threadIdx.x == 0) {
        mean_out[c] = (real_t)mean;
        var_out[c] = (real_t)var;
        inv_std_out[c] = (real_t)inv_std;
    }
}

// With xhat = (x - mean) * inv_std:
//   gbias = sum gy,  gweight = sum gy * xhat,
//   gx = weight * inv_std / M * (M * gy - gbias - xhat * gweight)
// (the mean and the variance depend on every x of the channel, hence the two sums).
extern "C" __global__ void batch_norm_backward(
    const real_t* gy, const real_t* x, const real_t* mean, const real_t* inv_std,
    const real_t* weight, real_t* gx, real_t* gweight, real_t* gbias,
    long long N, long long C, long long L, long long has_weight)
{
    __shared__ acc_t shared[BN_BLOCK];
    long long c = blockIdx.x;
    long long M = N * L;
    acc_t mu = mean[c];
    acc_t istd = inv_std[c];
    acc_t part_b = 0;
    acc_t part_w = 0;
    for (long long m = threadIdx.x; m < M; m += blockDim.x) {
        long long q = ((m / L) * C + c) * L + m % L;
        part_b += gy[q];
        part_w += (acc_t)gy[q] * ((acc_t)x[q] - mu) * istd;
    }
    acc_t gb = block_sum(part_b, shared);
    acc_t gw = block_sum(part_w, shared);
    acc_t w = has_weight ? (acc_t)weight[c] : 1.0;
    for (long long m = threadIdx.x; m < M; m += blockDim.x) {
        long long q = ((m / L) * C + c) * L + m % L;
        acc_t xhat = ((acc_t)x[q] - mu) * istd;
        gx[q] = (real_t)(w * istd / M * (M * (acc_t)gy[q] - gb - xhat * gw));
    }
    if (threadIdx.x == 0) {
        gweight[c] = (real_t)gw;
        gbias[c] = (real_t)gb;
    }
}
