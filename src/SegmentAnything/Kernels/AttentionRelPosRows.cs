using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SegmentAnything.Kernels;

/// <summary>
/// Four rows of a rel-pos table times the packed query tile, read out of the table's 12-row A panels
/// (stride 12): a tile needs only the table rows its queries pick (ViT-B's W table: 27 of 36 rows), so
/// a partly needed panel is computed in 4-row pieces. Each value is the same FMA chain over k as in the
/// 12-row kernels, so the terms are bit-identical whichever kernel produced them.
/// </summary>
internal static unsafe class AttentionRelPosRows
{
    private const int Stride = 32;

    /// <summary>C rows [4][32] = A·B: A four rows of a 12-row panel [kc][12], B the query panel [kc][32].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Rows4x32(nint kc, float* a, float* b, float* c)
    {
        var c0_0 = Vector512<float>.Zero; var c0_1 = Vector512<float>.Zero;
        var c1_0 = Vector512<float>.Zero; var c1_1 = Vector512<float>.Zero;
        var c2_0 = Vector512<float>.Zero; var c2_1 = Vector512<float>.Zero;
        var c3_0 = Vector512<float>.Zero; var c3_1 = Vector512<float>.Zero;
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
            a += 12;
            b += Stride;
        }
        c0_0.Store(c); c0_1.Store(c + 16);
        c1_0.Store(c + Stride); c1_1.Store(c + Stride + 16);
        c2_0.Store(c + 2 * Stride); c2_1.Store(c + 2 * Stride + 16);
        c3_0.Store(c + 3 * Stride); c3_1.Store(c + 3 * Stride + 16);
    }

    /// <summary>The same for the first 16 query lanes (a tile of at most 16 queries).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Rows4x16(nint kc, float* a, float* b, float* c)
    {
        var c0 = Vector512<float>.Zero;
        var c1 = Vector512<float>.Zero;
        var c2 = Vector512<float>.Zero;
        var c3 = Vector512<float>.Zero;
        for (nint p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b);
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(a[0]), b0, c0);
            c1 = Vector512.FusedMultiplyAdd(Vector512.Create(a[1]), b0, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Create(a[2]), b0, c2);
            c3 = Vector512.FusedMultiplyAdd(Vector512.Create(a[3]), b0, c3);
            a += 12;
            b += Stride;
        }
        c0.Store(c);
        c1.Store(c + Stride);
        c2.Store(c + 2 * Stride);
        c3.Store(c + 3 * Stride);
    }
}
