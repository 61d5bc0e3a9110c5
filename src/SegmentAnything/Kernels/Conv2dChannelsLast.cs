using System.Runtime.Intrinsics;

namespace SegmentAnything.Kernels;

/// <summary>
/// Dense 2-D convolution (groups = 1) producing a channels-last map [OH·OW, Cout], as a GEMM of
/// pixel rows against the weight packed once at load. 1x1 stride-1 convolutions on channels-last
/// input are the GEMM itself (no copy). Others gather, per band of output rows, the receptive field
/// of each pixel into a row (im2col) that stays in cache for the product; bands run in parallel,
/// each band's gather and GEMM on one thread, so there is no hand-off between the two.
/// Input is channels-last [H, W, Cin] or, for an image, planar [Cin, H, W].
/// </summary>
public sealed unsafe class Conv2dChannelsLast
{
    public int InChannels { get; }
    public int OutChannels { get; }
    public int KernelH { get; }
    public int KernelW { get; }
    public int Stride { get; }
    public int Padding { get; }
    public bool PlanarInput { get; }
    private readonly Linear _gemm;
    private int Depth => InChannels * KernelH * KernelW;
    private bool IsPointwise => KernelH == 1 && KernelW == 1 && Stride == 1 && Padding == 0 && !PlanarInput;

    /// <summary>Floats per im2col band (fits L2 with the packed panels beside it).</summary>
    private const int BandFloats = 1 << 17;

    [ThreadStatic] private static float[]? _columns;

    /// <param name="weight">PyTorch layout [Cout, Cin, kh, kw].</param>
    public Conv2dChannelsLast(ReadOnlySpan<float> weight, float[]? bias, int inChannels, int outChannels, int kernelH, int kernelW,
        int stride = 1, int padding = 0, bool planarInput = false)
    {
        if (inChannels <= 0 || outChannels <= 0 || kernelH <= 0 || kernelW <= 0 || stride <= 0 || padding < 0)
            throw new ArgumentException("Conv2d sizes must be positive (padding non-negative).");
        if (weight.Length != (long)outChannels * inChannels * kernelH * kernelW) throw new ArgumentException("Conv2d weight has the wrong size.");
        if (bias is not null && bias.Length != outChannels) throw new ArgumentException("Conv2d bias has the wrong size.");
        (InChannels, OutChannels, KernelH, KernelW, Stride, Padding, PlanarInput) = (inChannels, outChannels, kernelH, kernelW, stride, padding, planarInput);
        int depth = Depth;
        float[] w;
        if (planarInput) w = weight.ToArray(); // columns (c, ky, kx): PyTorch's own order
        else
        {
            // Columns (ky, kx, c), matching a channels-last receptive field.
            w = new float[weight.Length];
            int taps = kernelH * kernelW;
            for (int o = 0; o < outChannels; o++)
                for (int c = 0; c < inChannels; c++)
                    for (int t = 0; t < taps; t++) w[o * depth + t * inChannels + c] = weight[(o * inChannels + c) * taps + t];
        }
        _gemm = new Linear(w, bias, depth, outChannels);
    }

    public (int H, int W) OutputSize(int h, int w) =>
        ((h + 2 * Padding - KernelH) / Stride + 1, (w + 2 * Padding - KernelW) / Stride + 1);

    public void Forward(ReadOnlySpan<float> input, int h, int w, Span<float> output)
    {
        if (h <= 0 || w <= 0) throw new ArgumentException("Conv2d input must be non-empty.");
        var (oh, ow) = OutputSize(h, w);
        if (oh <= 0 || ow <= 0) throw new ArgumentException($"Conv2d input {h}x{w} smaller than the kernel.");
        if (input.Length < (long)InChannels * h * w) throw new ArgumentException("Conv2d input too small.");
        if (output.Length < (long)OutChannels * oh * ow) throw new ArgumentException("Conv2d output too small.");
        if (IsPointwise)
        {
            _gemm.Forward(input, output, h * w);
            return;
        }
        int depth = Depth;
        // Bands of whole output rows, or of pixels within a row when one row is already too wide.
        // Deep receptive fields (the neck's 3x3 over 256 channels) still get enough rows to reuse each packed weight panel.
        int pixelsPerBand = Math.Min(oh * ow, Math.Max(96, BandFloats / depth));
        int bands = (oh * ow + pixelsPerBand - 1) / pixelsPerBand;
        fixed (float* pin = input) fixed (float* pout = output)
        {
            nint ipIn = (nint)pin, ipOut = (nint)pout;
            KernelParallel.ForEachSerial(bands, b =>
            {
                int p0 = b * pixelsPerBand, count = Math.Min(pixelsPerBand, oh * ow - p0);
                float[] cols = _columns is { } buf && buf.Length >= count * depth ? buf : (_columns = new float[Math.Max(count, pixelsPerBand) * depth]);
                fixed (float* pc = cols)
                {
                    if (PlanarInput) GatherPlanar((float*)ipIn, h, w, ow, p0, count, pc);
                    else GatherChannelsLast((float*)ipIn, h, w, ow, p0, count, pc);
                }
                _gemm.Forward(cols, new Span<float>((float*)ipOut + (long)p0 * OutChannels, count * OutChannels), count);
            });
        }
    }

    /// <summary>Row p of the band: the kh·kw runs of Cin contiguous channels around output pixel p0 + p.</summary>
    private void GatherChannelsLast(float* x, int h, int w, int ow, int p0, int count, float* cols)
    {
        int c = InChannels, kh = KernelH, kw = KernelW, stride = Stride, pad = Padding, depth = Depth;
        for (int p = 0; p < count; p++)
        {
            int oy = (p0 + p) / ow, ox = (p0 + p) % ow;
            float* dst = cols + (long)p * depth;
            for (int ky = 0; ky < kh; ky++)
            {
                int iy = oy * stride - pad + ky;
                for (int kx = 0; kx < kw; kx++)
                {
                    int ix = ox * stride - pad + kx;
                    var d = new Span<float>(dst + (ky * kw + kx) * c, c);
                    if ((uint)iy < (uint)h && (uint)ix < (uint)w) new ReadOnlySpan<float>(x + ((long)iy * w + ix) * c, c).CopyTo(d);
                    else d.Clear();
                }
            }
        }
    }

    /// <summary>Row p of the band: PyTorch's (c, ky, kx) receptive field of output pixel p0 + p in a planar image.</summary>
    private void GatherPlanar(float* x, int h, int w, int ow, int p0, int count, float* cols)
    {
        int c = InChannels, kh = KernelH, kw = KernelW, stride = Stride, pad = Padding, depth = Depth;
        long plane = (long)h * w;
        for (int p = 0; p < count; p++)
        {
            int oy = (p0 + p) / ow, ox = (p0 + p) % ow;
            int iy0 = oy * stride - pad, ix0 = ox * stride - pad;
            float* dst = cols + (long)p * depth;
            // Interior pixels (the stem's 3x3 window away from the border): each kernel row is one
            // 4-float load and store; the spare fourth float is overwritten by the next run, and the
            // last run of the pixel is copied exactly so nothing is written past its row.
            if (kw <= 4 && iy0 >= 0 && iy0 + kh <= h && ix0 >= 0 && ix0 + 4 <= w)
            {
                float* src = x + (long)iy0 * w + ix0;
                int runs = c * kh;
                for (int r = 0; r < runs - 1; r++)
                    Vector128.Load(src + (r / kh) * plane + (long)(r % kh) * w).Store(dst + r * kw);
                float* last = src + (c - 1) * plane + (long)(kh - 1) * w;
                for (int kx = 0; kx < kw; kx++) dst[(runs - 1) * kw + kx] = last[kx];
                continue;
            }
            // Interior pixels of wide kernels (a patch embedding): each kernel row is one contiguous run.
            if (iy0 >= 0 && iy0 + kh <= h && ix0 >= 0 && ix0 + kw <= w)
            {
                float* src = x + (long)iy0 * w + ix0;
                for (int ci = 0; ci < c; ci++)
                    for (int ky = 0; ky < kh; ky++, dst += kw)
                        new ReadOnlySpan<float>(src + ci * plane + (long)ky * w, kw).CopyTo(new Span<float>(dst, kw));
                continue;
            }
            for (int ci = 0; ci < c; ci++)
                for (int ky = 0; ky < kh; ky++)
                {
                    int iy = iy0 + ky;
                    float* line = x + ((long)ci * h + iy) * w;
                    bool rowIn = (uint)iy < (uint)h;
                    for (int kx = 0; kx < kw; kx++)
                    {
                        int ix = ix0 + kx;
                        *dst++ = rowIn && (uint)ix < (uint)w ? line[ix] : 0f;
                    }
                }
        }
    }
}
