using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SegmentAnything.Kernels;

/// <summary>
/// Micro-kernels for a query tile of at most 16 queries in <see cref="GlobalAttention"/>'s 32-lane layout
/// (B panels, Sᵀ and Oᵀ rows keep their stride of 32, only the first 16 lanes are computed): a 196-token
/// window's last tile holds 4 queries, and the full-width kernels would spend half their work on padding.
/// The order of terms per lane is the full-width kernels' own.
/// </summary>
internal static unsafe class AttentionHalfTile
{
    private const int Stride = 32;

    /// <summary>Sᵀ rows [12][16 lanes] = A·B: A a 12-row panel [kc][12], B the query panel [kc][32].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Scores12x16(nint kc, float* a, float* b, float* c)
    {
        var c0 = Vector512<float>.Zero;
        var c1 = Vector512<float>.Zero;
        var c2 = Vector512<float>.Zero;
        var c3 = Vector512<float>.Zero;
        var c4 = Vector512<float>.Zero;
        var c5 = Vector512<float>.Zero;
        var c6 = Vector512<float>.Zero;
        var c7 = Vector512<float>.Zero;
        var c8 = Vector512<float>.Zero;
        var c9 = Vector512<float>.Zero;
        var c10 = Vector512<float>.Zero;
        var c11 = Vector512<float>.Zero;
        for (nint p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b);
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(a[0]), b0, c0);
            c1 = Vector512.FusedMultiplyAdd(Vector512.Create(a[1]), b0, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Create(a[2]), b0, c2);
            c3 = Vector512.FusedMultiplyAdd(Vector512.Create(a[3]), b0, c3);
            c4 = Vector512.FusedMultiplyAdd(Vector512.Create(a[4]), b0, c4);
            c5 = Vector512.FusedMultiplyAdd(Vector512.Create(a[5]), b0, c5);
            c6 = Vector512.FusedMultiplyAdd(Vector512.Create(a[6]), b0, c6);
            c7 = Vector512.FusedMultiplyAdd(Vector512.Create(a[7]), b0, c7);
            c8 = Vector512.FusedMultiplyAdd(Vector512.Create(a[8]), b0, c8);
            c9 = Vector512.FusedMultiplyAdd(Vector512.Create(a[9]), b0, c9);
            c10 = Vector512.FusedMultiplyAdd(Vector512.Create(a[10]), b0, c10);
            c11 = Vector512.FusedMultiplyAdd(Vector512.Create(a[11]), b0, c11);
            a += 12;
            b += Stride;
        }
        c0.Store(c + 0 * Stride);
        c1.Store(c + 1 * Stride);
        c2.Store(c + 2 * Stride);
        c3.Store(c + 3 * Stride);
        c4.Store(c + 4 * Stride);
        c5.Store(c + 5 * Stride);
        c6.Store(c + 6 * Stride);
        c7.Store(c + 7 * Stride);
        c8.Store(c + 8 * Stride);
        c9.Store(c + 9 * Stride);
        c10.Store(c + 10 * Stride);
        c11.Store(c + 11 * Stride);
    }

    /// <summary>Oᵀ rows [8][16 lanes] = A·B: A an 8-row panel [kc][8], B the probabilities Sᵀ [kc][32].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Values8x16(nint kc, float* a, float* b, float* c)
    {
        var c0 = Vector512<float>.Zero;
        var c1 = Vector512<float>.Zero;
        var c2 = Vector512<float>.Zero;
        var c3 = Vector512<float>.Zero;
        var c4 = Vector512<float>.Zero;
        var c5 = Vector512<float>.Zero;
        var c6 = Vector512<float>.Zero;
        var c7 = Vector512<float>.Zero;
        for (nint p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b);
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(a[0]), b0, c0);
            c1 = Vector512.FusedMultiplyAdd(Vector512.Create(a[1]), b0, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Create(a[2]), b0, c2);
            c3 = Vector512.FusedMultiplyAdd(Vector512.Create(a[3]), b0, c3);
            c4 = Vector512.FusedMultiplyAdd(Vector512.Create(a[4]), b0, c4);
            c5 = Vector512.FusedMultiplyAdd(Vector512.Create(a[5]), b0, c5);
            c6 = Vector512.FusedMultiplyAdd(Vector512.Create(a[6]), b0, c6);
            c7 = Vector512.FusedMultiplyAdd(Vector512.Create(a[7]), b0, c7);
            a += 8;
            b += Stride;
        }
        c0.Store(c + 0 * Stride);
        c1.Store(c + 1 * Stride);
        c2.Store(c + 2 * Stride);
        c3.Store(c + 3 * Stride);
        c4.Store(c + 4 * Stride);
        c5.Store(c + 5 * Stride);
        c6.Store(c + 6 * Stride);
        c7.Store(c + 7 * Stride);
    }
}
