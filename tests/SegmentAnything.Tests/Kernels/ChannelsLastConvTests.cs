using SegmentAnything.Kernels;
using static SegmentAnything.Tests.Kernels.KernelReference;

namespace SegmentAnything.Tests.Kernels;

/// <summary>The channels-last convolutions (TinyViT's) against a direct double-precision reference.</summary>
public class ChannelsLastConvTests
{
    /// <summary>Direct convolution of a channels-last [h, w, cin] map; output channels-last, with Σ|terms| per element.</summary>
    private static (double[] Y, double[] Mag) Reference(float[] x, int cin, int h, int w, float[] wt, float[]? bias,
        int cout, int k, int stride, int pad, bool depthwise)
    {
        int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
        var y = new double[oh * ow * cout];
        var mag = new double[y.Length];
        int cinPer = depthwise ? 1 : cin;
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int o = 0; o < cout; o++)
                {
                    double s = bias?[o] ?? 0, sa = Math.Abs(s);
                    for (int ci = 0; ci < cinPer; ci++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++)
                            {
                                int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                int c = depthwise ? o : ci;
                                double t = (double)wt[((o * cinPer + ci) * k + ky) * k + kx] * x[(iy * w + ix) * cin + c];
                                s += t;
                                sa += Math.Abs(t);
                            }
                    int i = (oy * ow + ox) * cout + o;
                    y[i] = s;
                    mag[i] = sa + 1e-6;
                }
        return (y, mag);
    }

    private static float[] ToPlanar(float[] x, int pixels, int c)
    {
        var p = new float[x.Length];
        for (int i = 0; i < pixels; i++)
            for (int j = 0; j < c; j++) p[j * pixels + i] = x[i * c + j];
        return p;
    }

    private static (double[], double[]) Gelu(double[] y, double[] mag)
    {
        // GELU's slope is at most ~1.13, so the conv's error scale carries over.
        var g = y.Select(v => v * 0.5 * (1 + SegmentAnything.Kernels.MathExtra.Erf(v / Math.Sqrt(2)))).ToArray();
        return (g, mag.Select((m, i) => m * 1.2 + Math.Abs(g[i])).ToArray());
    }

    [Theory]
    [InlineData(1, 3, 1, 0, 5, 4)]
    [InlineData(7, 3, 1, 1, 9, 11)]
    [InlineData(8, 3, 2, 1, 10, 7)]    // stride 2, even input (PatchMerging)
    [InlineData(15, 3, 2, 1, 9, 9)]    // stride 2, odd input
    [InlineData(16, 3, 1, 1, 3, 17)]
    [InlineData(17, 5, 1, 2, 8, 6)]    // 5x5, a 512-bit block plus a scalar tail
    [InlineData(33, 3, 1, 0, 4, 5)]    // no padding
    [InlineData(24, 3, 1, 1, 1, 1)]    // a single pixel: only the centre tap is inside
    [InlineData(160, 3, 1, 1, 6, 5)]   // TinyViT width: ten 512-bit blocks
    public void DepthwiseMatchesReference(int c, int k, int stride, int pad, int h, int w)
    {
        var rnd = new Random(c * 31 + k * 7 + h);
        float[] x = Random(rnd, h * w * c), wt = Random(rnd, c * k * k), bias = Random(rnd, c);
        var conv = new DepthwiseConv2dChannelsLast(wt, bias, c, k, k, stride, pad);
        var (oh, ow) = conv.OutputSize(h, w);
        var (expected, mag) = Reference(x, c, h, w, wt, bias, c, k, stride, pad, depthwise: true);
        var y = new float[oh * ow * c];
        conv.Forward(x, h, w, y);
        AssertClose(y, expected, mag, 2e-6, $"depthwise c{c} k{k} s{stride}");

        var (ge, gm) = Gelu(expected, mag);
        conv.Forward(x, h, w, y, gelu: true);
        AssertClose(y, ge, gm, 1e-5, $"depthwise+GELU c{c} k{k} s{stride}");

        // Any row range alone gives the same rows as the whole map.
        int r0 = oh / 3, r1 = Math.Max(r0, oh - 1);
        var part = new float[(r1 - r0) * ow * c];
        conv.ForwardRows(x, h, w, part, r0, r1, gelu: true);
        Assert.Equal(y.AsSpan(r0 * ow * c, part.Length).ToArray(), part);
    }

    [Theory]
    [InlineData(5, 7, 1, 1, 0, 9, 11)]     // pointwise: the GEMM on the input itself
    [InlineData(3, 8, 3, 2, 1, 13, 17)]    // TinyViT stem
    [InlineData(32, 64, 3, 2, 1, 12, 10)]  // second stem conv
    [InlineData(16, 12, 3, 1, 1, 40, 33)]  // many bands
    [InlineData(300, 20, 3, 1, 1, 7, 9)]   // receptive field wider than a band row budget
    [InlineData(4, 6, 5, 3, 2, 11, 8)]
    [InlineData(2, 3, 4, 2, 1, 15, 14)]   // 4-wide kernel rows: the interior gather has no spare float
    [InlineData(3, 5, 2, 1, 0, 9, 6)]
    [InlineData(3, 7, 16, 16, 0, 48, 37)] // patch embedding: kernel = stride, a ragged right edge left out
    [InlineData(3, 5, 6, 4, 1, 19, 23)]   // wide kernel rows, padded border beside interior runs
    public void DenseMatchesReference(int cin, int cout, int k, int stride, int pad, int h, int w)
    {
        var rnd = new Random(cin * 13 + cout + k);
        float[] x = Random(rnd, h * w * cin), wt = Random(rnd, cout * cin * k * k);
        foreach (var bias in new[] { null, Random(rnd, cout) })
        {
            var (expected, mag) = Reference(x, cin, h, w, wt, bias, cout, k, stride, pad, depthwise: false);
            var conv = new Conv2dChannelsLast(wt, bias, cin, cout, k, k, stride, pad);
            var (oh, ow) = conv.OutputSize(h, w);
            var y = new float[oh * ow * cout];
            conv.Forward(x, h, w, y);
            AssertClose(y, expected, mag, 2e-6, $"conv {cin}->{cout} k{k} s{stride} channels-last input");

            if (k == 1) continue; // a planar pointwise input is not a supported combination worth testing twice
            var planar = new Conv2dChannelsLast(wt, bias, cin, cout, k, k, stride, pad, planarInput: true);
            Array.Clear(y);
            planar.Forward(ToPlanar(x, h * w, cin), h, w, y);
            AssertClose(y, expected, mag, 2e-6, $"conv {cin}->{cout} k{k} s{stride} planar input");
        }
    }

    [Fact]
    public void RejectsBadShapes()
    {
        Assert.Throws<ArgumentException>(() => new DepthwiseConv2dChannelsLast(new float[10], default, 3, 3, 3));
        Assert.Throws<ArgumentException>(() => new Conv2dChannelsLast(new float[10], null, 3, 4, 3, 3));
        var dw = new DepthwiseConv2dChannelsLast(new float[4 * 9], default, 4, 3, 3, 1, 1);
        Assert.Throws<ArgumentException>(() => dw.Forward(new float[4 * 5 * 5 - 1], 5, 5, new float[100]));
        Assert.Throws<ArgumentException>(() => dw.Forward(new float[100], 5, 5, new float[99]));
        Assert.Throws<ArgumentOutOfRangeException>(() => dw.ForwardRows(new float[100], 5, 5, new float[100], 3, 6));
        var conv = new Conv2dChannelsLast(new float[4 * 3 * 9], null, 3, 4, 3, 3);
        Assert.Throws<ArgumentException>(() => conv.Forward(new float[3 * 2 * 2], 2, 2, new float[100]));
    }
}
