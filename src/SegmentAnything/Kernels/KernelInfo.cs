using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SegmentAnything.Kernels;

/// <summary>Which SIMD paths the kernels use on this machine.</summary>
public static class KernelInfo
{
    public static string Describe() =>
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? "AVX-512" :
        Avx2.IsSupported && Fma.IsSupported ? "AVX2+FMA" :
        Vector128.IsHardwareAccelerated ? "128-bit SIMD" : "scalar";
}
