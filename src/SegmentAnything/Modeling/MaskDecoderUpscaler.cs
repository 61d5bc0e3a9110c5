using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>
/// The decoder's output_upscaling (ConvT 2x2 s2, LayerNorm2d, GELU, ConvT 2x2 s2, GELU) and the
/// hypernetwork product, fused over bands of image rows: each band's upscaled features live only in
/// per-thread buffers that stay in L2, and only the requested masks' logits are written. The first
/// transposed convolution reads the transformer's token-major image tokens directly.
/// </summary>
internal sealed class MaskDecoderUpscaler
{
    /// <summary>Image-token rows per band: 128 tokens, a whole number of 12-row GEMM tiles nearly.</summary>
    private const int BandRows = 2;

    private readonly int _in, _mid, _out;
    private readonly PackedMatrix _w1;  // [in, (sub1, mid)]
    private readonly float[] _b1;       // [(sub1, mid)]
    private readonly float[] _w2T;      // [(sub2, out), mid]
    private readonly float[] _b2;       // [(sub2, out)]
    private readonly LayerNormParams _norm;

    [ThreadStatic] private static float[]? t_a1, t_a2, t_row;

    /// <param name="w1">ConvT 1 weight, PyTorch layout [in, mid, 2, 2].</param>
    /// <param name="w2">ConvT 2 weight [mid, out, 2, 2].</param>
    public MaskDecoderUpscaler(float[] w1, float[] b1, float[] w2, float[] b2, LayerNormParams norm, int inC, int midC, int outC)
    {
        (_in, _mid, _out, _norm) = (inC, midC, outC, norm);
        var b = new float[inC * 4 * midC];
        _b1 = new float[4 * midC];
        for (int s = 0; s < 4; s++)
            for (int o = 0; o < midC; o++)
            {
                _b1[s * midC + o] = b1[o];
                for (int i = 0; i < inC; i++) b[i * 4 * midC + s * midC + o] = w1[(i * midC + o) * 4 + s];
            }
        _w1 = Gemm.PackB(b, inC, 4 * midC, 4 * midC, bTransposed: false);
        FirstWeight = b;
        _w2T = new float[4 * outC * midC];
        _b2 = new float[4 * outC];
        for (int s = 0; s < 4; s++)
            for (int c = 0; c < outC; c++)
            {
                _b2[s * outC + c] = b2[c];
                for (int i = 0; i < midC; i++) _w2T[(s * outC + c) * midC + i] = w2[(i * outC + c) * 4 + s];
            }
    }

    /// <summary>The first product's weight [in, (sub1, mid)] and bias [(sub1, mid)], unpacked.</summary>
    public float[] FirstWeight { get; }
    public float[] FirstBias => _b1;
    public int FirstWidth => 4 * _mid;

    /// <summary>FLOPs of one <see cref="Run"/> over an h x w token grid (both products and the hypernetwork product).</summary>
    public long Flops(int h, int w, int masks) => 2L * h * w * (_in * 4 * _mid + 4 * _mid * 4 * _out + 16 * _out * masks);

    /// <summary>
    /// Low-resolution logits [masks, 4h, 4w] into <paramref name="dst"/> from token-major image tokens
    /// <paramref name="keys"/> [h·w, in] and the masks' hypernetwork outputs <paramref name="hyper"/> [masks, out].
    /// Bands run in parallel unless the caller already runs prompts in parallel.
    /// </summary>
    public void Run(float[] keys, int h, int w, float[] hyper, int hyperOffset, int masks, float[] dst, long dstOffset)
    {
        if (keys.Length < (long)h * w * _in) throw new ArgumentException("Image tokens are smaller than the token grid.");
        if (dst.Length < dstOffset + 16L * h * w * masks) throw new ArgumentException("Mask output too small.");
        if (masks > 4 || masks < 1) throw new ArgumentOutOfRangeException(nameof(masks), "One to four masks.");
        int bands = (h + BandRows - 1) / BandRows;
        KernelParallel.ForEachSerial(bands, band => RunBand(keys, null, h, w, hyper, hyperOffset, masks, dst, dstOffset, band * BandRows, Math.Min(h, band * BandRows + BandRows)));
    }

    /// <summary>
    /// As <see cref="Run"/>, with the first product keys·W + bias taken from <paramref name="product"/> (the
    /// per-image part and the prompt's factored image-token updates) instead of the image tokens.
    /// </summary>
    public void Run(MaskDecoderKeyProduct product, float[] imageProduct, DecoderKeyFactors factors, int h, int w, float[] hyper, int hyperOffset, int masks, float[] dst, long dstOffset)
    {
        if (factors.Tokens != h * w || imageProduct.Length < (long)h * w * 4 * _mid) throw new ArgumentException("Key factors do not match the token grid.");
        if (dst.Length < dstOffset + 16L * h * w * masks) throw new ArgumentException("Mask output too small.");
        if (masks > 4 || masks < 1) throw new ArgumentOutOfRangeException(nameof(masks), "One to four masks.");
        product.PrepareRhs(factors);
        int bands = (h + BandRows - 1) / BandRows;
        var first = (product, imageProduct, factors);
        KernelParallel.ForEachSerial(bands, band => RunBand(null, first, h, w, hyper, hyperOffset, masks, dst, dstOffset, band * BandRows, Math.Min(h, band * BandRows + BandRows)));
    }

    private void RunBand(float[]? keys, (MaskDecoderKeyProduct P, float[] Image, DecoderKeyFactors F)? factored, int h, int w, float[] hyper, int hyperOffset, int masks,
        float[] dst, long dstOffset, int y0, int y1)
    {
        int tokens = (y1 - y0) * w, n = 4 * tokens, c1 = 4 * _mid, c2 = 4 * _out;
        float[] a1 = Buffer(ref t_a1, tokens * c1), row = Buffer(ref t_row, 4 * n);
        // [tokens, (sub1, mid)]: every row of mid values is one pixel of the first upscaled map.
        if (factored is var (product, image, f)) product.Rows(f, image, y0 * w, tokens, a1.AsSpan(0, tokens * c1));
        else Gemm.MatMul(tokens, keys.AsSpan(y0 * w * _in), _in, false, _w1, a1, c1, _b1);
        _norm.Apply(a1.AsSpan(0, n * _mid), n);
        Activations.Gelu(a1.AsSpan(0, n * _mid));
        // The fused pass walks 32 rows of the second product at once: padded rows keep a 2 KB stride from mapping them onto few cache sets.
        bool fused = CanFuseHyperStore(w, masks);
        int ld2 = fused ? n + 16 : n;
        float[] a2 = Buffer(ref t_a2, c2 * ld2);
        // Transposed second product [(sub2, out), (token, sub1)]: the hypernetwork product then runs along rows.
        Gemm.MatMulCore(Gemm.Isa, 1, c2, n, _mid, _w2T, _mid, false, a1, _mid, true, a2, ld2, 1f, false, _b2, default);
        int ow = 4 * w;
        long plane = 16L * h * w;
        if (fused)
        {
            HyperStore(a2, n, ld2, hyper, hyperOffset, masks, dst, dstOffset, plane, ow, y0, y1, w);
            return;
        }
        Activations.Gelu(a2.AsSpan(0, c2 * n));
        for (int s2 = 0; s2 < 4; s2++)
        {
            MaskDecoder.HyperProduct(hyper.AsSpan(hyperOffset, masks * _out), a2.AsSpan(s2 * _out * n, _out * n), row, masks, _out, n);
            int dy2 = s2 >> 1, dx2 = s2 & 1;
            for (int t = 0; t < masks; t++)
            {
                ReadOnlySpan<float> r = row.AsSpan(t * n, n);
                // r[(token, sub1)] lands at (4y + 2·dy1 + dy2, 4x + 2·dx1 + dx2).
                for (int j = 0; j < tokens; j++)
                {
                    int y = y0 + j / w, x = j % w;
                    long b = dstOffset + t * plane + (long)(4 * y + dy2) * ow + 4 * x + dx2;
                    dst[b] = r[4 * j];
                    dst[b + 2] = r[4 * j + 1];
                    dst[b + 2 * ow] = r[4 * j + 2];
                    dst[b + 2 * ow + 2] = r[4 * j + 3];
                }
            }
        }
    }

    /// <summary>Lets tests run the unfused GELU, hypernetwork product and scattered stores, to check the fused kernel against them.</summary>
    internal static bool FuseHyperStore { get; set; } = true;

    private static bool CanFuseHyperStore(int w, int masks) =>
        FuseHyperStore && Avx512F.IsSupported && Vector512.IsHardwareAccelerated && w % 4 == 0 && masks <= 4;

    /// <summary>
    /// The second GELU, the hypernetwork product and the pixel shuffle of both transposed convolutions in one
    /// pass over the band's second product <paramref name="a2"/> [(sub2, out), (token, sub1)] (row stride <paramref name="ld"/>): per four tokens,
    /// the two sub-pixels of one output row parity (dx2 = 0, 1) are reduced over the channels for every mask,
    /// then interleaved by two permutes into sixteen consecutive output values of two rows. Each value is the
    /// GELU and the channel-ascending fused multiply-adds of the unfused path, so the logits are identical.
    /// </summary>
    private unsafe void HyperStore(float[] a2, int n, int ld, float[] hyper, int hyperOffset, int masks, float[] dst, long dstOffset, long plane, int ow, int y0, int y1, int w)
    {
        const float invSqrt2 = 0.70710678118654752440f;
        int co = _out;
        if (hyper.Length < hyperOffset + masks * co) throw new ArgumentException("Hypernetwork outputs are too small.");
        FlopCounter.Add(masks, 4L * n, co);
        // Output column 4k + 2·dx1 + dx2 of four tokens takes value 4k + 2·dy1 + dx1 of the dx2 sub-pixel's
        // reduction: index dx2·16 + 4k + 2·dy1 + dx1 into the concatenated pair.
        var even = Vector512.Create(0, 16, 1, 17, 4, 20, 5, 21, 8, 24, 9, 25, 12, 28, 13, 29);
        var odd = even + Vector512.Create(2);
        var half = Vector512.Create(0.5f);
        var scale = Vector512.Create(invSqrt2);
        fixed (float* pa = a2, ph0 = hyper, pd0 = dst)
        {
            float* ph = ph0 + hyperOffset;
            float* pd = pd0 + dstOffset;
            for (int yl = 0; yl < y1 - y0; yl++)
                for (int dy2 = 0; dy2 < 2; dy2++)
                {
                    float* r0 = pa + (long)(2 * dy2) * co * ld, r1 = r0 + (long)co * ld;
                    float* row = pd + (long)(4 * (y0 + yl) + dy2) * ow;
                    for (int x0 = 0; x0 < w; x0 += 4)
                    {
                        long p = 4L * (yl * w + x0);
                        Vector512<float> m00 = default, m01 = default, m02 = default, m03 = default;
                        Vector512<float> m10 = default, m11 = default, m12 = default, m13 = default;
                        for (int c = 0; c < co; c++)
                        {
                            var u = Vector512.Load(r0 + (long)c * ld + p);
                            var v = Vector512.Load(r1 + (long)c * ld + p);
                            u = u * half * VectorMath.OnePlusErf(u * scale);
                            v = v * half * VectorMath.OnePlusErf(v * scale);
                            var h0 = Vector512.Create(ph[c]);
                            m00 = Vector512.FusedMultiplyAdd(h0, u, m00);
                            m10 = Vector512.FusedMultiplyAdd(h0, v, m10);
                            if (masks > 1)
                            {
                                var h1 = Vector512.Create(ph[co + c]);
                                m01 = Vector512.FusedMultiplyAdd(h1, u, m01);
                                m11 = Vector512.FusedMultiplyAdd(h1, v, m11);
                            }
                            if (masks > 2)
                            {
                                var h2 = Vector512.Create(ph[2 * co + c]);
                                m02 = Vector512.FusedMultiplyAdd(h2, u, m02);
                                m12 = Vector512.FusedMultiplyAdd(h2, v, m12);
                            }
                            if (masks > 3)
                            {
                                var h3 = Vector512.Create(ph[3 * co + c]);
                                m03 = Vector512.FusedMultiplyAdd(h3, u, m03);
                                m13 = Vector512.FusedMultiplyAdd(h3, v, m13);
                            }
                        }
                        float* o = row + 4 * x0;
                        Shuffle(m00, m10, even, odd, o, ow);
                        if (masks > 1) Shuffle(m01, m11, even, odd, o + plane, ow);
                        if (masks > 2) Shuffle(m02, m12, even, odd, o + 2 * plane, ow);
                        if (masks > 3) Shuffle(m03, m13, even, odd, o + 3 * plane, ow);
                    }
                }
        }
    }

    /// <summary>Rows dy1 = 0 and 1 (two output rows apart) of four tokens' sixteen output columns.</summary>
    private static unsafe void Shuffle(Vector512<float> dx0, Vector512<float> dx1, Vector512<int> even, Vector512<int> odd, float* o, int ow)
    {
        Avx512F.PermuteVar16x32x2(dx0, even, dx1).Store(o);
        Avx512F.PermuteVar16x32x2(dx0, odd, dx1).Store(o + 2 * ow);
    }

    private static float[] Buffer(ref float[]? slot, int length)
    {
        if (slot is null || slot.Length < length) slot = GC.AllocateUninitializedArray<float>(length);
        return slot;
    }
}
