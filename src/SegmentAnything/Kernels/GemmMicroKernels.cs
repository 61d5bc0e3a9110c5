// Register-blocked GEMM micro-kernels, fully unrolled (one local per accumulator) so the JIT keeps every
// accumulator in a register; the three bodies follow one mechanical pattern, keep it when editing.
// Tried and measured no better on Zen 4: k loop unrolled by 2, prefetching the C tile before the k loop.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SegmentAnything.Kernels;

internal static unsafe class GemmMicroKernels
{
    internal const int Mr512 = 12, Nr512 = 32, Mr256 = 6, Nr256 = 16, Mr128 = 4, Nr128 = 8;

    /// <summary>12x32 tile with Vector512: 24 accumulators, B rows loaded once per k, A broadcast.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel12x32(nint kc, float* a, float* b, float* c, nint ldc, float alpha, bool load, float* rowBias, float* colBias)
    {
        var c0_0 = Vector512<float>.Zero; var c0_1 = Vector512<float>.Zero;
        var c1_0 = Vector512<float>.Zero; var c1_1 = Vector512<float>.Zero;
        var c2_0 = Vector512<float>.Zero; var c2_1 = Vector512<float>.Zero;
        var c3_0 = Vector512<float>.Zero; var c3_1 = Vector512<float>.Zero;
        var c4_0 = Vector512<float>.Zero; var c4_1 = Vector512<float>.Zero;
        var c5_0 = Vector512<float>.Zero; var c5_1 = Vector512<float>.Zero;
        var c6_0 = Vector512<float>.Zero; var c6_1 = Vector512<float>.Zero;
        var c7_0 = Vector512<float>.Zero; var c7_1 = Vector512<float>.Zero;
        var c8_0 = Vector512<float>.Zero; var c8_1 = Vector512<float>.Zero;
        var c9_0 = Vector512<float>.Zero; var c9_1 = Vector512<float>.Zero;
        var c10_0 = Vector512<float>.Zero; var c10_1 = Vector512<float>.Zero;
        var c11_0 = Vector512<float>.Zero; var c11_1 = Vector512<float>.Zero;
        for (nint p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b + 0);
            var b1 = Vector512.Load(b + 16);
            var a0 = Vector512.Create(a[0]);
            c0_0 = Vector512.FusedMultiplyAdd(a0, b0, c0_0);
            c0_1 = Vector512.FusedMultiplyAdd(a0, b1, c0_1);
            var a1 = Vector512.Create(a[1]);
            c1_0 = Vector512.FusedMultiplyAdd(a1, b0, c1_0);
            c1_1 = Vector512.FusedMultiplyAdd(a1, b1, c1_1);
            var a2 = Vector512.Create(a[2]);
            c2_0 = Vector512.FusedMultiplyAdd(a2, b0, c2_0);
            c2_1 = Vector512.FusedMultiplyAdd(a2, b1, c2_1);
            var a3 = Vector512.Create(a[3]);
            c3_0 = Vector512.FusedMultiplyAdd(a3, b0, c3_0);
            c3_1 = Vector512.FusedMultiplyAdd(a3, b1, c3_1);
            var a4 = Vector512.Create(a[4]);
            c4_0 = Vector512.FusedMultiplyAdd(a4, b0, c4_0);
            c4_1 = Vector512.FusedMultiplyAdd(a4, b1, c4_1);
            var a5 = Vector512.Create(a[5]);
            c5_0 = Vector512.FusedMultiplyAdd(a5, b0, c5_0);
            c5_1 = Vector512.FusedMultiplyAdd(a5, b1, c5_1);
            var a6 = Vector512.Create(a[6]);
            c6_0 = Vector512.FusedMultiplyAdd(a6, b0, c6_0);
            c6_1 = Vector512.FusedMultiplyAdd(a6, b1, c6_1);
            var a7 = Vector512.Create(a[7]);
            c7_0 = Vector512.FusedMultiplyAdd(a7, b0, c7_0);
            c7_1 = Vector512.FusedMultiplyAdd(a7, b1, c7_1);
            var a8 = Vector512.Create(a[8]);
            c8_0 = Vector512.FusedMultiplyAdd(a8, b0, c8_0);
            c8_1 = Vector512.FusedMultiplyAdd(a8, b1, c8_1);
            var a9 = Vector512.Create(a[9]);
            c9_0 = Vector512.FusedMultiplyAdd(a9, b0, c9_0);
            c9_1 = Vector512.FusedMultiplyAdd(a9, b1, c9_1);
            var a10 = Vector512.Create(a[10]);
            c10_0 = Vector512.FusedMultiplyAdd(a10, b0, c10_0);
            c10_1 = Vector512.FusedMultiplyAdd(a10, b1, c10_1);
            var a11 = Vector512.Create(a[11]);
            c11_0 = Vector512.FusedMultiplyAdd(a11, b0, c11_0);
            c11_1 = Vector512.FusedMultiplyAdd(a11, b1, c11_1);
            a += 12;
            b += 32;
        }
        var va = Vector512.Create(alpha);
        if (load)
        {
            Vector512.Store(Vector512.FusedMultiplyAdd(c0_0, va, Vector512.Load(c + 0 * ldc + 0)), c + 0 * ldc + 0);
            Vector512.Store(Vector512.FusedMultiplyAdd(c0_1, va, Vector512.Load(c + 0 * ldc + 16)), c + 0 * ldc + 16);
            Vector512.Store(Vector512.FusedMultiplyAdd(c1_0, va, Vector512.Load(c + 1 * ldc + 0)), c + 1 * ldc + 0);
            Vector512.Store(Vector512.FusedMultiplyAdd(c1_1, va, Vector512.Load(c + 1 * ldc + 16)), c + 1 * ldc + 16);
            Vector512.Store(Vector512.FusedMultiplyAdd(c2_0, va, Vector512.Load(c + 2 * ldc + 0)), c + 2 * ldc + 0);
            Vector512.Store(Vector512.FusedMultiplyAdd(c2_1, va, Vector512.Load(c + 2 * ldc + 16)), c + 2 * ldc + 16);
            Vector512.Store(Vector512.FusedMultiplyAdd(c3_0, va, Vector512.Load(c + 3 * ldc + 0)), c + 3 * ldc + 0);
            Vector512.Store(Vector512.FusedMultiplyAdd(c3_1, va, Vector512.Load(c + 3 * ldc + 16)), c + 3 * ldc + 16);
            Vector512.Store(Vector512.FusedMultiplyAdd(c4_0, va, Vector512.Load(c + 4 * ldc + 0)), c + 4 * ldc + 0);
            Vector512.Store(Vector512.FusedMultiplyAdd(c4_1, va, Vector512.Load(c + 4 * ldc + 16)), c + 4 * ldc + 16);
            Vector512.Store(Vector512.FusedMultiplyAdd(c5_0, va, Vector512.Load(c + 5 * ldc + 0)), c + 5 * ldc + 0);
            Vector512.Store(Vector512.FusedMultiplyAdd(c5_1, va, Vector512.Load(c + 5 * ldc + 16)), c + 5 * ldc + 16);
            Vector512.Store(Vector512.FusedMultiplyAdd(c6_0, va, Vector512.Load(c + 6 * ldc + 0)), c + 6 * ldc + 0);
            Vector512.Store(Vector512.FusedMultiplyAdd(c6_1, va, Vector512.Load(c + 6 * ldc + 16)), c + 6 * ldc + 16);
            Vector512.Store(Vector512.FusedMultiplyAdd(c7_0, va, Vector512.Load(c + 7 * ldc + 0)), c + 7 * ldc + 0);
            Vector512.Store(Vector512.FusedMultiplyAdd(c7_1, va, Vector512.Load(c + 7 * ldc + 16)), c + 7 * ldc + 16);
            Vector512.Store(Vector512.FusedMultiplyAdd(c8_0, va, Vector512.Load(c + 8 * ldc + 0)), c + 8 * ldc + 0);
            Vector512.Store(Vector512.FusedMultiplyAdd(c8_1, va, Vector512.Load(c + 8 * ldc + 16)), c + 8 * ldc + 16);
            Vector512.Store(Vector512.FusedMultiplyAdd(c9_0, va, Vector512.Load(c + 9 * ldc + 0)), c + 9 * ldc + 0);
            Vector512.Store(Vector512.FusedMultiplyAdd(c9_1, va, Vector512.Load(c + 9 * ldc + 16)), c + 9 * ldc + 16);
            Vector512.Store(Vector512.FusedMultiplyAdd(c10_0, va, Vector512.Load(c + 10 * ldc + 0)), c + 10 * ldc + 0);
            Vector512.Store(Vector512.FusedMultiplyAdd(c10_1, va, Vector512.Load(c + 10 * ldc + 16)), c + 10 * ldc + 16);
            Vector512.Store(Vector512.FusedMultiplyAdd(c11_0, va, Vector512.Load(c + 11 * ldc + 0)), c + 11 * ldc + 0);
            Vector512.Store(Vector512.FusedMultiplyAdd(c11_1, va, Vector512.Load(c + 11 * ldc + 16)), c + 11 * ldc + 16);
        }
        else
        {
            var cb0 = colBias != null ? Vector512.Load(colBias + 0) : Vector512<float>.Zero;
            var cb1 = colBias != null ? Vector512.Load(colBias + 16) : Vector512<float>.Zero;
            var rb0 = Vector512.Create(rowBias != null ? rowBias[0] : 0f);
            Vector512.Store(Vector512.FusedMultiplyAdd(c0_0, va, cb0 + rb0), c + 0 * ldc + 0);
            Vector512.Store(Vector512.FusedMultiplyAdd(c0_1, va, cb1 + rb0), c + 0 * ldc + 16);
            var rb1 = Vector512.Create(rowBias != null ? rowBias[1] : 0f);
            Vector512.Store(Vector512.FusedMultiplyAdd(c1_0, va, cb0 + rb1), c + 1 * ldc + 0);
            Vector512.Store(Vector512.FusedMultiplyAdd(c1_1, va, cb1 + rb1), c + 1 * ldc + 16);
            var rb2 = Vector512.Create(rowBias != null ? rowBias[2] : 0f);
            Vector512.Store(Vector512.FusedMultiplyAdd(c2_0, va, cb0 + rb2), c + 2 * ldc + 0);
            Vector512.Store(Vector512.FusedMultiplyAdd(c2_1, va, cb1 + rb2), c + 2 * ldc + 16);
            var rb3 = Vector512.Create(rowBias != null ? rowBias[3] : 0f);
            Vector512.Store(Vector512.FusedMultiplyAdd(c3_0, va, cb0 + rb3), c + 3 * ldc + 0);
            Vector512.Store(Vector512.FusedMultiplyAdd(c3_1, va, cb1 + rb3), c + 3 * ldc + 16);
            var rb4 = Vector512.Create(rowBias != null ? rowBias[4] : 0f);
            Vector512.Store(Vector512.FusedMultiplyAdd(c4_0, va, cb0 + rb4), c + 4 * ldc + 0);
            Vector512.Store(Vector512.FusedMultiplyAdd(c4_1, va, cb1 + rb4), c + 4 * ldc + 16);
            var rb5 = Vector512.Create(rowBias != null ? rowBias[5] : 0f);
            Vector512.Store(Vector512.FusedMultiplyAdd(c5_0, va, cb0 + rb5), c + 5 * ldc + 0);
            Vector512.Store(Vector512.FusedMultiplyAdd(c5_1, va, cb1 + rb5), c + 5 * ldc + 16);
            var rb6 = Vector512.Create(rowBias != null ? rowBias[6] : 0f);
            Vector512.Store(Vector512.FusedMultiplyAdd(c6_0, va, cb0 + rb6), c + 6 * ldc + 0);
            Vector512.Store(Vector512.FusedMultiplyAdd(c6_1, va, cb1 + rb6), c + 6 * ldc + 16);
            var rb7 = Vector512.Create(rowBias != null ? rowBias[7] : 0f);
            Vector512.Store(Vector512.FusedMultiplyAdd(c7_0, va, cb0 + rb7), c + 7 * ldc + 0);
            Vector512.Store(Vector512.FusedMultiplyAdd(c7_1, va, cb1 + rb7), c + 7 * ldc + 16);
            var rb8 = Vector512.Create(rowBias != null ? rowBias[8] : 0f);
            Vector512.Store(Vector512.FusedMultiplyAdd(c8_0, va, cb0 + rb8), c + 8 * ldc + 0);
            Vector512.Store(Vector512.FusedMultiplyAdd(c8_1, va, cb1 + rb8), c + 8 * ldc + 16);
            var rb9 = Vector512.Create(rowBias != null ? rowBias[9] : 0f);
            Vector512.Store(Vector512.FusedMultiplyAdd(c9_0, va, cb0 + rb9), c + 9 * ldc + 0);
            Vector512.Store(Vector512.FusedMultiplyAdd(c9_1, va, cb1 + rb9), c + 9 * ldc + 16);
            var rb10 = Vector512.Create(rowBias != null ? rowBias[10] : 0f);
            Vector512.Store(Vector512.FusedMultiplyAdd(c10_0, va, cb0 + rb10), c + 10 * ldc + 0);
            Vector512.Store(Vector512.FusedMultiplyAdd(c10_1, va, cb1 + rb10), c + 10 * ldc + 16);
            var rb11 = Vector512.Create(rowBias != null ? rowBias[11] : 0f);
            Vector512.Store(Vector512.FusedMultiplyAdd(c11_0, va, cb0 + rb11), c + 11 * ldc + 0);
            Vector512.Store(Vector512.FusedMultiplyAdd(c11_1, va, cb1 + rb11), c + 11 * ldc + 16);
        }
    }

    /// <summary>6x16 tile with Vector256: 12 accumulators, B rows loaded once per k, A broadcast.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel6x16(nint kc, float* a, float* b, float* c, nint ldc, float alpha, bool load, float* rowBias, float* colBias)
    {
        var c0_0 = Vector256<float>.Zero; var c0_1 = Vector256<float>.Zero;
        var c1_0 = Vector256<float>.Zero; var c1_1 = Vector256<float>.Zero;
        var c2_0 = Vector256<float>.Zero; var c2_1 = Vector256<float>.Zero;
        var c3_0 = Vector256<float>.Zero; var c3_1 = Vector256<float>.Zero;
        var c4_0 = Vector256<float>.Zero; var c4_1 = Vector256<float>.Zero;
        var c5_0 = Vector256<float>.Zero; var c5_1 = Vector256<float>.Zero;
        for (nint p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(b + 0);
            var b1 = Vector256.Load(b + 8);
            var a0 = Vector256.Create(a[0]);
            c0_0 = Vector256.FusedMultiplyAdd(a0, b0, c0_0);
            c0_1 = Vector256.FusedMultiplyAdd(a0, b1, c0_1);
            var a1 = Vector256.Create(a[1]);
            c1_0 = Vector256.FusedMultiplyAdd(a1, b0, c1_0);
            c1_1 = Vector256.FusedMultiplyAdd(a1, b1, c1_1);
            var a2 = Vector256.Create(a[2]);
            c2_0 = Vector256.FusedMultiplyAdd(a2, b0, c2_0);
            c2_1 = Vector256.FusedMultiplyAdd(a2, b1, c2_1);
            var a3 = Vector256.Create(a[3]);
            c3_0 = Vector256.FusedMultiplyAdd(a3, b0, c3_0);
            c3_1 = Vector256.FusedMultiplyAdd(a3, b1, c3_1);
            var a4 = Vector256.Create(a[4]);
            c4_0 = Vector256.FusedMultiplyAdd(a4, b0, c4_0);
            c4_1 = Vector256.FusedMultiplyAdd(a4, b1, c4_1);
            var a5 = Vector256.Create(a[5]);
            c5_0 = Vector256.FusedMultiplyAdd(a5, b0, c5_0);
            c5_1 = Vector256.FusedMultiplyAdd(a5, b1, c5_1);
            a += 6;
            b += 16;
        }
        var va = Vector256.Create(alpha);
        if (load)
        {
            Vector256.Store(Vector256.FusedMultiplyAdd(c0_0, va, Vector256.Load(c + 0 * ldc + 0)), c + 0 * ldc + 0);
            Vector256.Store(Vector256.FusedMultiplyAdd(c0_1, va, Vector256.Load(c + 0 * ldc + 8)), c + 0 * ldc + 8);
            Vector256.Store(Vector256.FusedMultiplyAdd(c1_0, va, Vector256.Load(c + 1 * ldc + 0)), c + 1 * ldc + 0);
            Vector256.Store(Vector256.FusedMultiplyAdd(c1_1, va, Vector256.Load(c + 1 * ldc + 8)), c + 1 * ldc + 8);
            Vector256.Store(Vector256.FusedMultiplyAdd(c2_0, va, Vector256.Load(c + 2 * ldc + 0)), c + 2 * ldc + 0);
            Vector256.Store(Vector256.FusedMultiplyAdd(c2_1, va, Vector256.Load(c + 2 * ldc + 8)), c + 2 * ldc + 8);
            Vector256.Store(Vector256.FusedMultiplyAdd(c3_0, va, Vector256.Load(c + 3 * ldc + 0)), c + 3 * ldc + 0);
            Vector256.Store(Vector256.FusedMultiplyAdd(c3_1, va, Vector256.Load(c + 3 * ldc + 8)), c + 3 * ldc + 8);
            Vector256.Store(Vector256.FusedMultiplyAdd(c4_0, va, Vector256.Load(c + 4 * ldc + 0)), c + 4 * ldc + 0);
            Vector256.Store(Vector256.FusedMultiplyAdd(c4_1, va, Vector256.Load(c + 4 * ldc + 8)), c + 4 * ldc + 8);
            Vector256.Store(Vector256.FusedMultiplyAdd(c5_0, va, Vector256.Load(c + 5 * ldc + 0)), c + 5 * ldc + 0);
            Vector256.Store(Vector256.FusedMultiplyAdd(c5_1, va, Vector256.Load(c + 5 * ldc + 8)), c + 5 * ldc + 8);
        }
        else
        {
            var cb0 = colBias != null ? Vector256.Load(colBias + 0) : Vector256<float>.Zero;
            var cb1 = colBias != null ? Vector256.Load(colBias + 8) : Vector256<float>.Zero;
            var rb0 = Vector256.Create(rowBias != null ? rowBias[0] : 0f);
            Vector256.Store(Vector256.FusedMultiplyAdd(c0_0, va, cb0 + rb0), c + 0 * ldc + 0);
            Vector256.Store(Vector256.FusedMultiplyAdd(c0_1, va, cb1 + rb0), c + 0 * ldc + 8);
            var rb1 = Vector256.Create(rowBias != null ? rowBias[1] : 0f);
            Vector256.Store(Vector256.FusedMultiplyAdd(c1_0, va, cb0 + rb1), c + 1 * ldc + 0);
            Vector256.Store(Vector256.FusedMultiplyAdd(c1_1, va, cb1 + rb1), c + 1 * ldc + 8);
            var rb2 = Vector256.Create(rowBias != null ? rowBias[2] : 0f);
            Vector256.Store(Vector256.FusedMultiplyAdd(c2_0, va, cb0 + rb2), c + 2 * ldc + 0);
            Vector256.Store(Vector256.FusedMultiplyAdd(c2_1, va, cb1 + rb2), c + 2 * ldc + 8);
            var rb3 = Vector256.Create(rowBias != null ? rowBias[3] : 0f);
            Vector256.Store(Vector256.FusedMultiplyAdd(c3_0, va, cb0 + rb3), c + 3 * ldc + 0);
            Vector256.Store(Vector256.FusedMultiplyAdd(c3_1, va, cb1 + rb3), c + 3 * ldc + 8);
            var rb4 = Vector256.Create(rowBias != null ? rowBias[4] : 0f);
            Vector256.Store(Vector256.FusedMultiplyAdd(c4_0, va, cb0 + rb4), c + 4 * ldc + 0);
            Vector256.Store(Vector256.FusedMultiplyAdd(c4_1, va, cb1 + rb4), c + 4 * ldc + 8);
            var rb5 = Vector256.Create(rowBias != null ? rowBias[5] : 0f);
            Vector256.Store(Vector256.FusedMultiplyAdd(c5_0, va, cb0 + rb5), c + 5 * ldc + 0);
            Vector256.Store(Vector256.FusedMultiplyAdd(c5_1, va, cb1 + rb5), c + 5 * ldc + 8);
        }
    }

    /// <summary>4x8 tile with Vector128: 8 accumulators, B rows loaded once per k, A broadcast.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel4x8(nint kc, float* a, float* b, float* c, nint ldc, float alpha, bool load, float* rowBias, float* colBias)
    {
        var c0_0 = Vector128<float>.Zero; var c0_1 = Vector128<float>.Zero;
        var c1_0 = Vector128<float>.Zero; var c1_1 = Vector128<float>.Zero;
        var c2_0 = Vector128<float>.Zero; var c2_1 = Vector128<float>.Zero;
        var c3_0 = Vector128<float>.Zero; var c3_1 = Vector128<float>.Zero;
        for (nint p = 0; p < kc; p++)
        {
            var b0 = Vector128.Load(b + 0);
            var b1 = Vector128.Load(b + 4);
            var a0 = Vector128.Create(a[0]);
            c0_0 = Vector128.MultiplyAddEstimate(a0, b0, c0_0);
            c0_1 = Vector128.MultiplyAddEstimate(a0, b1, c0_1);
            var a1 = Vector128.Create(a[1]);
            c1_0 = Vector128.MultiplyAddEstimate(a1, b0, c1_0);
            c1_1 = Vector128.MultiplyAddEstimate(a1, b1, c1_1);
            var a2 = Vector128.Create(a[2]);
            c2_0 = Vector128.MultiplyAddEstimate(a2, b0, c2_0);
            c2_1 = Vector128.MultiplyAddEstimate(a2, b1, c2_1);
            var a3 = Vector128.Create(a[3]);
            c3_0 = Vector128.MultiplyAddEstimate(a3, b0, c3_0);
            c3_1 = Vector128.MultiplyAddEstimate(a3, b1, c3_1);
            a += 4;
            b += 8;
        }
        var va = Vector128.Create(alpha);
        if (load)
        {
            Vector128.Store(Vector128.MultiplyAddEstimate(c0_0, va, Vector128.Load(c + 0 * ldc + 0)), c + 0 * ldc + 0);
            Vector128.Store(Vector128.MultiplyAddEstimate(c0_1, va, Vector128.Load(c + 0 * ldc + 4)), c + 0 * ldc + 4);
            Vector128.Store(Vector128.MultiplyAddEstimate(c1_0, va, Vector128.Load(c + 1 * ldc + 0)), c + 1 * ldc + 0);
            Vector128.Store(Vector128.MultiplyAddEstimate(c1_1, va, Vector128.Load(c + 1 * ldc + 4)), c + 1 * ldc + 4);
            Vector128.Store(Vector128.MultiplyAddEstimate(c2_0, va, Vector128.Load(c + 2 * ldc + 0)), c + 2 * ldc + 0);
            Vector128.Store(Vector128.MultiplyAddEstimate(c2_1, va, Vector128.Load(c + 2 * ldc + 4)), c + 2 * ldc + 4);
            Vector128.Store(Vector128.MultiplyAddEstimate(c3_0, va, Vector128.Load(c + 3 * ldc + 0)), c + 3 * ldc + 0);
            Vector128.Store(Vector128.MultiplyAddEstimate(c3_1, va, Vector128.Load(c + 3 * ldc + 4)), c + 3 * ldc + 4);
        }
        else
        {
            var cb0 = colBias != null ? Vector128.Load(colBias + 0) : Vector128<float>.Zero;
            var cb1 = colBias != null ? Vector128.Load(colBias + 4) : Vector128<float>.Zero;
            var rb0 = Vector128.Create(rowBias != null ? rowBias[0] : 0f);
            Vector128.Store(Vector128.MultiplyAddEstimate(c0_0, va, cb0 + rb0), c + 0 * ldc + 0);
            Vector128.Store(Vector128.MultiplyAddEstimate(c0_1, va, cb1 + rb0), c + 0 * ldc + 4);
            var rb1 = Vector128.Create(rowBias != null ? rowBias[1] : 0f);
            Vector128.Store(Vector128.MultiplyAddEstimate(c1_0, va, cb0 + rb1), c + 1 * ldc + 0);
            Vector128.Store(Vector128.MultiplyAddEstimate(c1_1, va, cb1 + rb1), c + 1 * ldc + 4);
            var rb2 = Vector128.Create(rowBias != null ? rowBias[2] : 0f);
            Vector128.Store(Vector128.MultiplyAddEstimate(c2_0, va, cb0 + rb2), c + 2 * ldc + 0);
            Vector128.Store(Vector128.MultiplyAddEstimate(c2_1, va, cb1 + rb2), c + 2 * ldc + 4);
            var rb3 = Vector128.Create(rowBias != null ? rowBias[3] : 0f);
            Vector128.Store(Vector128.MultiplyAddEstimate(c3_0, va, cb0 + rb3), c + 3 * ldc + 0);
            Vector128.Store(Vector128.MultiplyAddEstimate(c3_1, va, cb1 + rb3), c + 3 * ldc + 4);
        }
    }
}
