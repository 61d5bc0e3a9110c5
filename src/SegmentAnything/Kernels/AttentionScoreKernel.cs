using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SegmentAnything.Kernels;

/// <summary>The score kernel of <see cref="GlobalAttention"/>'s full 32-query tiles, with the softmax's first pass fused in.</summary>
internal static unsafe class AttentionScoreKernel
{
    /// <summary>
    /// Sᵀ rows [12][32] = A·B (the query panel comes scaled) as the 12x32 GEMM kernel computes them, then, per key row below
    /// <paramref name="validRows"/>, the rel-pos terms ((s + H[ky]) + W[kx], the official order; none when
    /// <paramref name="hTerms"/> is null) and the running column maxima: the softmax's first pass happens
    /// while the scores are still in registers instead of re-reading them from L2.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Scores12x32(nint kc, float* a, float* b, float* c, int validRows, int key0, int qw,
        float* hTerms, float* wTerms, ref Vector512<float> max0, ref Vector512<float> max1)
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
            var b0 = Vector512.Load(b);
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
        var m0 = max0; var m1 = max1;
        // The key's grid position advances row by row (no division per row).
        int ky = hTerms != null ? key0 / qw : 0, kx = key0 - ky * qw;
        if (0 < validRows) Finish(c0_0, c0_1, c + 0 * 32, ref ky, ref kx, qw, hTerms, wTerms, ref m0, ref m1);
        if (1 < validRows) Finish(c1_0, c1_1, c + 1 * 32, ref ky, ref kx, qw, hTerms, wTerms, ref m0, ref m1);
        if (2 < validRows) Finish(c2_0, c2_1, c + 2 * 32, ref ky, ref kx, qw, hTerms, wTerms, ref m0, ref m1);
        if (3 < validRows) Finish(c3_0, c3_1, c + 3 * 32, ref ky, ref kx, qw, hTerms, wTerms, ref m0, ref m1);
        if (4 < validRows) Finish(c4_0, c4_1, c + 4 * 32, ref ky, ref kx, qw, hTerms, wTerms, ref m0, ref m1);
        if (5 < validRows) Finish(c5_0, c5_1, c + 5 * 32, ref ky, ref kx, qw, hTerms, wTerms, ref m0, ref m1);
        if (6 < validRows) Finish(c6_0, c6_1, c + 6 * 32, ref ky, ref kx, qw, hTerms, wTerms, ref m0, ref m1);
        if (7 < validRows) Finish(c7_0, c7_1, c + 7 * 32, ref ky, ref kx, qw, hTerms, wTerms, ref m0, ref m1);
        if (8 < validRows) Finish(c8_0, c8_1, c + 8 * 32, ref ky, ref kx, qw, hTerms, wTerms, ref m0, ref m1);
        if (9 < validRows) Finish(c9_0, c9_1, c + 9 * 32, ref ky, ref kx, qw, hTerms, wTerms, ref m0, ref m1);
        if (10 < validRows) Finish(c10_0, c10_1, c + 10 * 32, ref ky, ref kx, qw, hTerms, wTerms, ref m0, ref m1);
        if (11 < validRows) Finish(c11_0, c11_1, c + 11 * 32, ref ky, ref kx, qw, hTerms, wTerms, ref m0, ref m1);
        max0 = m0; max1 = m1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish(Vector512<float> s0, Vector512<float> s1, float* row, ref int ky, ref int kx, int qw, float* hTerms, float* wTerms,
        ref Vector512<float> max0, ref Vector512<float> max1)
    {
        if (hTerms != null)
        {
            s0 = s0 + Vector512.Load(hTerms + ky * 32) + Vector512.Load(wTerms + kx * 32);
            s1 = s1 + Vector512.Load(hTerms + ky * 32 + 16) + Vector512.Load(wTerms + kx * 32 + 16);
            if (++kx == qw) { kx = 0; ky++; }
        }
        s0.StoreAligned(row);
        s1.StoreAligned(row + 16);
        max0 = Vector512.Max(max0, s0);
        max1 = Vector512.Max(max1, s1);
    }
}
