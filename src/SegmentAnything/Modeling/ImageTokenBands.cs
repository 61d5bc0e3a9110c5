using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>
/// The end of a decoder block's image-token update in bands of <see cref="Band"/> tokens: residual + LayerNorm,
/// then the band packed straight into the two GEMM operands the next attention reads, (keys + pe)ᵀ for the
/// scores and keys for the probabilities' product, while it is still in L1. Row-major keys + pe never exist and
/// no later pass streams the 4 MB image tokens again to pack them.
/// </summary>
internal static unsafe class ImageTokenBands
{
    /// <summary>Tokens per band: a whole number of B panels for every micro-kernel width (8, 16, 32).</summary>
    public const int Band = 32;

    [ThreadStatic] private static float[]? _kpeBand, _outBand;

    /// <summary>
    /// As <see cref="Finish(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, PackedMatrix, PackedMatrix, int, int, LayerNormParams, Span{float}, Span{float})"/>
    /// with x, the attention's output, produced band by band as probsTᵀ · values + outBias (<paramref name="probsT"/>
    /// [cols, nk], <paramref name="values"/> packed [cols, dim]), so the [nk, dim] output never leaves L1.
    /// </summary>
    public static void Finish(ReadOnlySpan<float> probsT, PackedMatrix values, ReadOnlySpan<float> outBias, ReadOnlySpan<float> residual,
        ReadOnlySpan<float> pos, Span<float> keys, PackedMatrix kpeT, PackedMatrix keysB, int nk, int dim, LayerNormParams norm, Span<float> mean, Span<float> rstd)
    {
        if (values.N != dim) throw new ArgumentException("Attention values do not match the image tokens.");
        var band = _outBand is { } b && b.Length >= Band * dim ? b : _outBand = new float[Band * dim];
        for (int r0 = 0; r0 < nk; r0 += Band)
        {
            int count = Math.Min(Band, nk - r0);
            Gemm.MatMul(count, probsT[r0..], nk, true, values, band, dim, outBias);
            Finish(band, residual[(r0 * dim)..], pos[(r0 * dim)..], keys[(r0 * dim)..], kpeT, keysB, r0, count, nk, dim, norm,
                mean.IsEmpty ? default : mean[r0..], rstd.IsEmpty ? default : rstd[r0..]);
        }
    }

    /// <summary>
    /// keys = LayerNorm(x + residual) (residual may be keys, updated in place), packed into <paramref name="keysB"/>
    /// ([nk, dim]) and, plus <paramref name="pos"/>, into <paramref name="kpeT"/> ([dim, nk]).
    /// </summary>
    public static void Finish(ReadOnlySpan<float> x, ReadOnlySpan<float> residual, ReadOnlySpan<float> pos, Span<float> keys,
        PackedMatrix kpeT, PackedMatrix keysB, int nk, int dim, LayerNormParams norm, Span<float> mean, Span<float> rstd)
    {
        if (kpeT.K != dim || kpeT.N != nk || keysB.K != nk || keysB.N != dim || kpeT.Isa != keysB.Isa)
            throw new ArgumentException("Packed image-token operands do not match the image tokens.");
        for (int r0 = 0; r0 < nk; r0 += Band)
        {
            int count = Math.Min(Band, nk - r0), o = r0 * dim;
            Finish(x[o..], residual[o..], pos[o..], keys[o..], kpeT, keysB, r0, count, nk, dim, norm,
                mean.IsEmpty ? default : mean[r0..], rstd.IsEmpty ? default : rstd[r0..]);
        }
    }

    /// <summary>One band: tokens [r0, r0+count), every span starting at the band's first token.</summary>
    private static void Finish(ReadOnlySpan<float> x, ReadOnlySpan<float> residual, ReadOnlySpan<float> pos, Span<float> keys,
        PackedMatrix kpeT, PackedMatrix keysB, int r0, int count, int nk, int dim, LayerNormParams norm, Span<float> mean, Span<float> rstd)
    {
        var band = _kpeBand is { } b && b.Length >= Band * dim ? b : _kpeBand = new float[Band * dim];
        int n = count * dim;
        ResidualLayerNorm.Apply(x[..n], residual[..n], pos[..n], keys[..n], band, count, dim,
            norm.Weight, norm.Bias, norm.Eps, mean.IsEmpty ? default : mean[..count], rstd.IsEmpty ? default : rstd[..count]);
        fixed (float* pk = keys) fixed (float* pq = band)
        {
            PackRows(keysB, new MatrixRef(pk - (long)r0 * dim, dim, false), r0, count);
            PackColumns(kpeT, new MatrixRef(pq, dim, true), r0, count);
        }
    }

    /// <summary>Rows [r0, r0+count) of B [K, N] (row-major in <paramref name="src"/>) into their place in <paramref name="m"/>.</summary>
    private static void PackRows(PackedMatrix m, MatrixRef src, int r0, int count)
    {
        int nr = GemmIsaInfo.Nr(m.Isa), k = m.K, n = m.N, kcBlock = GemmDriver.KcBlock(k);
        long nPad = (n + nr - 1) / nr * nr;
        for (int r = r0, end = r0 + count; r < end;)
        {
            int pc = r / kcBlock * kcBlock, kc = Math.Min(kcBlock, k - pc), len = Math.Min(end, pc + kc) - r;
            for (int j0 = 0; j0 < n; j0 += nr)
                GemmPacking.PackBPanel(src, j0, Math.Min(nr, n - j0), r, len, nr, m.Pointer + pc * nPad + (long)j0 * kc + (long)(r - pc) * nr);
            r += len;
        }
    }

    /// <summary>Columns [c0, c0+count) of B [K, N], given as the rows of <paramref name="band"/> [count, K], into their panels.</summary>
    private static void PackColumns(PackedMatrix m, MatrixRef band, int c0, int count)
    {
        int nr = GemmIsaInfo.Nr(m.Isa), k = m.K, n = m.N, kcBlock = GemmDriver.KcBlock(k);
        long nPad = (n + nr - 1) / nr * nr;
        for (int j = 0; j < count; j += nr)
            for (int pc = 0; pc < k; pc += kcBlock)
            {
                int kc = Math.Min(kcBlock, k - pc);
                GemmPacking.PackBPanel(band, j, Math.Min(nr, Math.Min(count, n - c0) - j), pc, kc, nr, m.Pointer + pc * nPad + (long)(c0 + j) * kc);
            }
    }
}
