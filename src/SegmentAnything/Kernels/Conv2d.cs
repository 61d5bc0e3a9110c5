namespace SegmentAnything.Kernels;

/// <summary>
/// 2-D convolution of one image [Cin, H, W] with PyTorch weights [Cout, Cin/groups, kh, kw].
/// Dense convolutions go through im2col and a matrix product.
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

    public Conv2d(float[] weight, float[]? bias, int inChannels, int outChannels, int kernelH, int kernelW,
        int stride = 1, int padding = 0, int groups = 1)
    {
        if (inChannels % groups != 0 || outChannels % groups != 0) throw new ArgumentException("Channels not divisible by groups.");
        if (weight.Length != outChannels * (inChannels / groups) * kernelH * kernelW) throw new ArgumentException("Conv2d weight has the wrong size.");
        if (bias is not null && bias.Length != outChannels) throw new ArgumentException("Conv2d bias has the wrong size.");
        (InChannels, OutChannels, KernelH, KernelW, Stride, Padding, Groups) = (inChannels, outChannels, kernelH, kernelW, stride, padding, groups);
        _weight = weight;
        _bias = bias;
    }

    public (int H, int W) OutputSize(int h, int w) =>
        ((h + 2 * Padding - KernelH) / Stride + 1, (w + 2 * Padding - KernelW) / Stride + 1);

    public float[] Forward(ReadOnlySpan<float> input, int h, int w)
    {
        var (oh, ow) = OutputSize(h, w);
        var output = new float[OutChannels * oh * ow];
        Forward(input, h, w, output);
        return output;
    }

    public void Forward(ReadOnlySpan<float> input, int h, int w, Span<float> output)
    {
        var (oh, ow) = OutputSize(h, w);
        int cinG = InChannels / Groups, coutG = OutChannels / Groups;
        int kk = cinG * KernelH * KernelW;
        int npix = oh * ow;
        var cols = new float[kk * npix];
        for (int g = 0; g < Groups; g++)
        {
            Im2Col(input.Slice(g * cinG * h * w, cinG * h * w), cinG, h, w, oh, ow, cols);
            Span<float> outG = output.Slice(g * coutG * npix, coutG * npix);
            if (_bias is null) outG.Clear();
            else for (int o = 0; o < coutG; o++) outG.Slice(o * npix, npix).Fill(_bias[g * coutG + o]);
            Gemm.MatMul(_weight.AsSpan(g * coutG * kk, coutG * kk), cols, outG, coutG, kk, npix, accumulate: true);
        }
    }

    private void Im2Col(ReadOnlySpan<float> x, int c, int h, int w, int oh, int ow, Span<float> cols)
    {
        int row = 0;
        for (int ci = 0; ci < c; ci++)
            for (int ky = 0; ky < KernelH; ky++)
                for (int kx = 0; kx < KernelW; kx++, row++)
                {
                    Span<float> dst = cols.Slice(row * oh * ow, oh * ow);
                    for (int oy = 0; oy < oh; oy++)
                    {
                        int iy = oy * Stride - Padding + ky;
                        for (int ox = 0; ox < ow; ox++)
                        {
                            int ix = ox * Stride - Padding + kx;
                            dst[oy * ow + ox] = (uint)iy < (uint)h && (uint)ix < (uint)w ? x[(ci * h + iy) * w + ix] : 0f;
                        }
                    }
                }
    }
}
