using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SegmentAnything.Kernels;

/// <summary>Which register-blocked micro-kernel a GEMM runs (and hence its MR x NR tile).</summary>
public enum GemmIsa
{
    /// <summary>Vector128 multiply-add, 4x8 tile: portable fallback (software on machines without SIMD).</summary>
    Vector128,
    /// <summary>AVX2 + FMA, 6x16 tile.</summary>
    Vector256,
    /// <summary>AVX-512F, 12x32 tile.</summary>
    Vector512,
}

internal static class GemmIsaInfo
{
    public static readonly GemmIsa Best =
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? GemmIsa.Vector512
        : Fma.IsSupported && Avx2.IsSupported ? GemmIsa.Vector256
        : GemmIsa.Vector128;

    public static bool IsSupported(GemmIsa isa) => isa switch
    {
        GemmIsa.Vector512 => Vector512.IsHardwareAccelerated && Avx512F.IsSupported,
        GemmIsa.Vector256 => Fma.IsSupported && Avx2.IsSupported,
        _ => true,
    };

    public static int Mr(GemmIsa isa) => isa switch
    {
        GemmIsa.Vector512 => GemmMicroKernels.Mr512,
        GemmIsa.Vector256 => GemmMicroKernels.Mr256,
        _ => GemmMicroKernels.Mr128,
    };

    public static int Nr(GemmIsa isa) => isa switch
    {
        GemmIsa.Vector512 => GemmMicroKernels.Nr512,
        GemmIsa.Vector256 => GemmMicroKernels.Nr256,
        _ => GemmMicroKernels.Nr128,
    };
}
