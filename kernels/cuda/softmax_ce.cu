// Fused softmax + cross-entropy with label smoothing (CUDA C for CuPy's RawModule).
//
// The including code defines `real_t`. logits, probs: (N, K); target: (N,) int64.
// With lse = log sum_k exp(x_k) (computed as max + log sum exp(x - max)) and
// smoothing ls, PyTorch's loss of row n is
//   loss = (1 - ls) * (lse - x_t) + ls * (lse - sum_k x_k / K)
// and its gradient is probs - (1 - ls) * onehot(t) - ls / K.
typedef double acc_t;
#define CE_BLOCK 256

// Reduce every thread's `value` with max (is_max) or +, returned to all threads.
__device__ acc_t block_reduce(acc_t value, acc_t* shared, bool is_max)
{
    unsigned int tid = threadIdx.x;
    shared[tid] = value;
    __syncthreads();
    for (unsigned int half = blockDim.x / 2; half > 0; half /= 2) {
        if (tid < half) {
            acc_t other = shared[tid + half];
            if (is_max) {
                shared[tid] = other > shared[tid] ? other : shared[tid];
            } else {
                shared[tid] += other;
            }
        }
        __syncthreads();
    }
    acc_t total = shared[0];
    __syncthreads();
    return total;
}

// One block per row n (blockDim.x a power of two <= CE_BLOCK).
extern "C" __global__ void softmax_cross_entropy_forward(
    const real_t* logits, const long long* target, real_t* loss, real_t* probs,
    long long N, long long K, double label_smoothing)
{
    __shared__ acc_t shared[CE_BLOCK];
    long long n = blockIdx.x;
    const real_t* row = logits + n * K;
    acc_t part = row[0];
    for (long long k = threadIdx.x; k < K; k += blockDim.x) {
        part = (acc_t)row[k] > part ? (acc_t)row[k] : part;
    }
    acc_t mx = block_reduce(part, shared, true);
    acc_t part_exp = 0;
    acc_t part_sum = 0;
    for (long long k = threadIdx.x; k < K; k += blockDim.x) {
        part_exp += exp((acc_t)row[k] - mx);
        part_sum += row[k];
    }
    acc_t lse = mx + log(block_reduce(part_exp, shared, false));
    acc_t sum_x = block_reduce(part_sum, shared, false);
    for (long long k = threadIdx.x; k < K; k += blockDim.x) {
        probs[n * K + k] = (real_t)exp((acc_t)row[k] - lse);
    }
    if (threadIdx.x == 0) {
        acc_t x_t = row[target[n]];
        loss[n] = (real_t)((1.0 - label_smoothing) * (lse - x_t)
                           + label_smoothing * (lse - sum_x / K));
    }
}

// One thread per logit: glogits = gloss * (probs - (1 - ls) * onehot - ls / K).
extern "C" __global__ void softmax_cross_entropy_backward(
    const real_t* probs, const long long* target, const real_t* gloss, real_t* glogits,
    long long N, long long K, double label_smoothing)
{
    long long total = N * K;
    long long stride = (long long)blockDim.x * gridDim.x;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total;
         t += stride) {
        long long n = t / K;
        acc_t onehot = target[n] == t % K ? 1.0 : 0.0;
        acc_t g = (acc_t)probs[t] - (1.0 - label_smoothing) * onehot - label_smoothing / K;
        glogits[t] = (real_t)((acc_t)gloss[n] * g);
    }
}
