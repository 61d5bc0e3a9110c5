namespace SegmentAnything.Kernels;

/// <summary>
/// 2-D convolution of one image [Cin, H, W] with PyTorch weights [Cout, Cin/groups, kh, kw], output
/// [Cout, OH, OW]. 1x1 stride-1 convolutions are a single GEMM on the input; other dense ones go
/// through im2col in pixel chunks written straight into column slices of the output; depthwise ones
/// (groups == channels) use <see cref="DepthwiseConv2d"/>. The bias is fused into the GEMM store.
/// </summary>
public sealed class Conv2d
{
    public int InChannels { get; }
    public int OutChannels { get; }
    public int KernelH { get; }
    public int KernelW { get; }
    public int Stride { get; }
    public int Padding { get; }
    public int Groups { get; }
    private readonly float[] _weight;
    private readonly float[]? _bias;

    /// <summary>Upper bound on an im2col chunk, in floats (keeps the column buffer cache-friendly).</summary>
    private const int ColumnChunkFloats = 1 << 21;

    public Conv2d(float[] weight, float[]? bias, int inChannels, int outChannels, int kernelH, int kernelW,
        int stride = 1, int padding = 0, int groups = 1)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (inChannels <= 0 || outChannels <= 0 || kernelH <= 0 || kernelW <= 0 || stride <= 0 || padding < 0 || groups <= 0)
            throw new ArgumentException("Conv2d sizes must be positive (padding non-negative).");
        if (inChannels % groups != 0 || outChannels % groups != 0) throw new ArgumentException("Channels not divisible by groups.");
        if (weight.Length != (long)outChannels * (inChannels / groups) * kernelH * kernelW) throw new ArgumentException("Conv2d weight has the wrong size.");
        if (bias is not null && bias.Length != outChannels) throw new ArgumentException("Conv2d bias has the wrong size.");
        (InChannels, OutChannels, KernelH, KernelW, Stride, Padding, Groups) = (inChannels, outChannels, kernelH, kernelW, stride, padding, groups);
        _weight = weight;
        _bias = bias;
    }

    public (int H, int W) OutputSize(int h, int w) =>
        ((h + 2 * Padding - KernelH) / Stride + 1, (w + 2 * Padding - KernelW) / Stride + 1);

    private bool IsDepthwise => Groups == InChannels && Groups == OutChannels && Groups > 1;

    public float[] Forward(ReadOnlySpan<float> input, int h, int w)
    {
        var (oh, ow) = OutputSize(h, w);
        if (oh <= 0 || ow <= 0) throw new ArgumentException($"Conv2d input {h}x{w} smaller than the kernel.");
        var output = new float[(long)OutChannels * oh * ow];
        Forward(input, h, w, output);
        return output;
    }

    public void Forward(ReadOnlySpan<float> input, int h, int w, Span<float> output)
    {
        if (h <= 0 || w <= 0) throw new ArgumentException("Conv2d input must be non-empty.");
        var (oh, ow) = OutputSize(h, w);
        if (oh <= 0 || ow <= 0) throw new ArgumentException($"Conv2d input {h}x{w} smaller than the kernel.");
        if (input.Length < (long)InChannels * h * w) throw new ArgumentException("Conv2d input too small.");
        if (output.Length < (long)OutChannels * oh * ow) throw new ArgumentException("Conv2d output too small.");
        if (IsDepthwise)
        {
            DepthwiseConv2d.Forward(input, h, w, _weight, _bias, InChannels, KernelH, KernelW, Stride, Padding, output, oh, ow);
            return;
        }
        int cinG = InChannels / Groups, coutG = OutChannels / Groups;
        int kk = cinG * KernelH * KernelW;
        int npix = oh * ow;
        bool pointwise = KernelH == 1 && KernelW == 1 && Stride == 1 && Padding == 0;
        for (int g = 0; g < Groups; g++)
        {
            ReadOnlySpan<float> x = input.Slice(g * cinG * h * w, cinG * h * w);
            ReadOnlySpan<float> wg = _weight.AsSpan(g * coutG * kk, coutG * kk);
            Span<float> outG = output.Slice(g * coutG * npix, coutG * npix);
            ReadOnlySpan<float> bias = _bias is null ? default : _bias.AsSpan(g * coutG, coutG);
            if (pointwise)
            {
                Gemm.MatMulCore(GemmIsaInfo.Best, KernelParallel.MaxThreads, coutG, npix, kk, wg, kk, false, x, npix, false,
                    outG, npix, 1f, false, bias, default);
                continue;
            }
            int rowsPerChunk = Math.Clamp(ColumnChunkFloats / Math.Max(1, kk * ow), 1, oh);
            var cols = GC.AllocateUninitializedArray<float>(kk * rowsPerChunk * ow);
            for (int oy0 = 0; oy0 < oh; oy0 += rowsPerChunk)
            {
                int rows = Math.Min(rowsPerChunk, oh - oy0), chunkPix = rows * ow;
                Im2Col(x, cinG, h, w, ow, oy0, rows, cols);
                Gemm.MatMulCore(GemmIsaInfo.Best, KernelParallel.MaxThreads, coutG, chunkPix, kk, wg, kk, false, cols, chunkPix, false,
                    outG[(oy0 * ow)..], npix, 1f, false, bias, default);
            }
        }
    }

    /// <summary>Column matrix [cin·kh·kw, rows·ow] for output rows [oy0, oy0+rows).</summary>
    private void Im2Col(ReadOnlySpan<float> x, int c, int h, int w, int ow, int oy0, int rows, float[] cols)
    {
        int kh = KernelH, kw = KernelW, stride = Stride, pad = Padding, chunkPix = rows * ow;
        unsafe
        {
            fixed (float* px = x)
            {
                nint ipx = (nint)px;
                KernelParallel.ForRanges(c * kh * kw, Math.Max(1, (1 << 15) / Math.Max(1, chunkPix)), (r0, r1) =>
                {
                    float* src = (float*)ipx;
                    for (int row = r0; row < r1; row++)
                    {
                        int ci = row / (kh * kw), ky = row / kw % kh, kx = row % kw;
                        Span<float> dst = cols.AsSpan(row * chunkPix, chunkPix);
                        for (int r = 0; r < rows; r++)
                        {
                            int iy = (oy0 + r) * stride - pad + ky;
                            Span<float> d = dst.Slice(r * ow, ow);
                            if ((uint)iy >= (uint)h) { d.Clear(); continue; }
                            float* line = src + ((long)ci * h + iy) * w;
                            // Output columns whose input column ox·stride - pad + kx lies inside [0, w).
                            int lo = Math.Max(0, (pad - kx + stride - 1) / stride);
                            int last = w - 1 + pad - kx;
                            int hi = last < 0 ? 0 : Math.Min(ow, last / stride + 1);
                            if (hi <= lo) { d.Clear(); continue; }
                            d[..lo].Clear();
                            d[hi..].Clear();
                            int ix0 = lo * stride - pad + kx;
                            if (stride == 1) new ReadOnlySpan<float>(line + ix0, hi - lo).CopyTo(d[lo..hi]);
                            else for (int ox = lo, ix = ix0; ox < hi; ox++, ix += stride) d[ox] = line[ix];
                        }
                    }
                });
            }
        }
    }
}
