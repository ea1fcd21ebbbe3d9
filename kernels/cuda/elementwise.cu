// Elementwise kernels: ReLU, dropout, the SGD-momentum step (CUDA C for CuPy).
//
// The including code defines `real_t`. One thread per element, grid-stride loops.

// y = max(x, 0); a NaN stays NaN, as in PyTorch.
extern "C" __global__ void relu_forward(const real_t* x, real_t* y, long long n)
{
    long long stride = (long long)blockDim.x * gridDim.x;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < n; t += stride) {
        real_t v = x[t];
        y[t] = (v > 0 || v != v) ? v : (real_t)0;
    }
}

// gx = gy where y > 0, else 0.
extern "C" __global__ void relu_backward(const real_t* gy, const real_t* y, real_t* gx,
                                         long long n)
{
    long long stride = (long long)blockDim.x * gridDim.x;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < n; t += stride) {
        gx[t] = y[t] > 0 ? gy[t] : (real_t)0;
    }
}

// mask = (u >= p) / (1 - p) in x's dtype (scale is 1/(1-p), passed in), y = x * mask.
extern "C" __global__ void dropout_forward(const real_t* x, const real_t* u, real_t* y,
                                           real_t* mask, long long n, double p, real_t scale)
{
    long long stride = (long long)blockDim.x * gridDim.x;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < n; t += stride) {
        real_t m = (double)u[t] >= p ? scale : (real_t)0;
        mask[t] = m;
        y[t] = x[t] * m;
    }
}

// PyTorch's SGD, in place, in the parameter's dtype (scalars arrive as real_t):
//   d = grad + weight_decay * param
//   buf = d (first step) or momentum * buf + (1 - dampening) * d
//   d = d + momentum * buf (nesterov) or buf
//   param -= lr * d
// use_momentum == 0 skips the buffer (buf may then be any array).
extern "C" __global__ void sgd_step(
    real_t* param, const real_t* grad, real_t* buf, long long n,
    real_t lr, real_t momentum, real_t one_minus_dampening, real_t weight_decay,
    long long use_momentum, long long nesterov, long long first)
{
    long long stride = (long long)blockDim.x * gridDim.x;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < n; t += stride) {
        real_t d = grad[t];
        if (weight_decay != 0) {
            d = d + weight_decay * param[t];
        }
        if (use_momentum) {
            real_t b = first ? d : momentum * buf[t] + one_minus_dampening * d;
            buf[t] = b;
            d = nesterov ? d + momentum * b : b;
        }
        param[t] = param[t] - lr * d;
    }
}
