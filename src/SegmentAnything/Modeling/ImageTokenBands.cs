using System.Runtime.Intrinsics.X86;
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
    /// [cols, nk], <paramref name="values"/> packed [cols, dim]), so the [nk, dim] output never leaves L1. With empty
    /// <paramref name="keys"/> only the LayerNorm statistics are kept (the factored form needs no rows of the last block).
    /// </summary>
    public static void Finish(ReadOnlySpan<float> probsT, PackedMatrix values, ReadOnlySpan<float> outBias, ReadOnlySpan<float> residual,
        ReadOnlySpan<float> pos, Span<float> keys, PackedMatrix? kpeT, PackedMatrix? keysB, int nk, int dim, LayerNormParams norm, Span<float> mean, Span<float> rstd)
    {
        if (values.N != dim) throw new ArgumentException("Attention values do not match the image tokens.");
        var band = _outBand is { } b && b.Length >= Band * dim ? b : _outBand = new float[Band * dim];
        for (int r0 = 0; r0 < nk; r0 += Band)
        {
            int count = Math.Min(Band, nk - r0);
            long t = DecoderProfile.Start();
            Gemm.MatMul(count, probsT[r0..], nk, true, values, band, dim, outBias);
            DecoderProfile.Lap(DecoderProfile.I2tOut, t);
            // Without keys only the statistics are wanted: no normalised rows, no positional pass.
            if (keys.IsEmpty)
            {
                if (mean.IsEmpty || rstd.IsEmpty) throw new ArgumentException("Statistics-only pass needs the statistics outputs.");
                t = DecoderProfile.Start();
                ResidualLayerNorm.Statistics(band.AsSpan(0, count * dim), residual[(r0 * dim)..], count, dim, norm.Eps, mean[r0..], rstd[r0..]);
                DecoderProfile.Lap(DecoderProfile.I2tRln, t);
                continue;
            }
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
        PackedMatrix? kpeT, PackedMatrix? keysB, int r0, int count, int nk, int dim, LayerNormParams norm, Span<float> mean, Span<float> rstd)
    {
        var band = _kpeBand is { } b && b.Length >= Band * dim ? b : _kpeBand = new float[Band * dim];
        int n = count * dim;
        long t = DecoderProfile.Start();
        ResidualLayerNorm.Apply(x[..n], residual[..n], pos[..n], keys[..n], band, count, dim,
            norm.Weight, norm.Bias, norm.Eps, mean.IsEmpty ? default : mean[..count], rstd.IsEmpty ? default : rstd[..count]);
        t = DecoderProfile.Lap(DecoderProfile.I2tRln, t);
        // Factored decoding reads no materialised image tokens: nothing to pack.
        if (kpeT is null || keysB is null) return;
        fixed (float* pk = keys) fixed (float* pq = band)
        {
            PackRows(keysB, new MatrixRef(pk - (long)r0 * dim, dim, false), r0, count);
            PackColumns(kpeT, new MatrixRef(pq, dim, true), r0, count);
        }
        DecoderProfile.Lap(DecoderProfile.T2iPack, t);
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
                int kc = Math.Min(kcBlock, k - pc), cols = Math.Min(nr, Math.Min(count, n - c0) - j);
                float* dst = m.Pointer + pc * nPad + (long)(c0 + j) * kc;
                if (Avx.IsSupported && cols == nr && nr % 8 == 0 && kc % 8 == 0) TransposePanel(band.Ptr + (long)j * band.Ld + pc, band.Ld, kc, nr, dst);
                else GemmPacking.PackBPanel(band, j, cols, pc, kc, nr, dst);
            }
    }

    /// <summary>dst[p·nr + j] = src[j·ld + p] for j &lt; nr, p &lt; kc: 8x8 blocks transposed in registers.</summary>
    private static void TransposePanel(float* src, nint ld, int kc, int nr, float* dst)
    {
        for (int j = 0; j < nr; j += 8)
            for (int p = 0; p < kc; p += 8)
            {
                float* s = src + j * ld + p;
                var r0 = Avx.LoadVector256(s); var r1 = Avx.LoadVector256(s + ld);
                var r2 = Avx.LoadVector256(s + 2 * ld); var r3 = Avx.LoadVector256(s + 3 * ld);
                var r4 = Avx.LoadVector256(s + 4 * ld); var r5 = Avx.LoadVector256(s + 5 * ld);
                var r6 = Avx.LoadVector256(s + 6 * ld); var r7 = Avx.LoadVector256(s + 7 * ld);
                var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
                var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
                var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
                var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
                var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
                var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
                var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
                var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
                float* d = dst + (nint)p * nr + j;
                Avx.Store(d, Avx.Permute2x128(u0, u4, 0x20));
                Avx.Store(d + nr, Avx.Permute2x128(u1, u5, 0x20));
                Avx.Store(d + 2 * nr, Avx.Permute2x128(u2, u6, 0x20));
                Avx.Store(d + 3 * nr, Avx.Permute2x128(u3, u7, 0x20));
                Avx.Store(d + 4 * nr, Avx.Permute2x128(u0, u4, 0x31));
                Avx.Store(d + 5 * nr, Avx.Permute2x128(u1, u5, 0x31));
                Avx.Store(d + 6 * nr, Avx.Permute2x128(u2, u6, 0x31));
                Avx.Store(d + 7 * nr, Avx.Permute2x128(u3, u7, 0x31));
            }
    }
}
