// File: common/host_device.h
// -----------------------------------------------------------------------------
// PARAMSYNC_HOST_DEVICE marks a function that host code and CUDA kernels both
// call (the headers shared with agent/gpu/*.cu): __host__ __device__ under
// nvcc, nothing for the host compiler. No dependencies.
#ifndef PARAMSYNC_COMMON_HOST_DEVICE_H_
#define PARAMSYNC_COMMON_HOST_DEVICE_H_

#ifdef __CUDACC__
#define PARAMSYNC_HOST_DEVICE __host__ __device__
#else
#define PARAMSYNC_HOST_DEVICE
#endif

#endif  // PARAMSYNC_COMMON_HOST_DEVICE_H_
