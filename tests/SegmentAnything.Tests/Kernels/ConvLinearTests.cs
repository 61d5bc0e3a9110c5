using SegmentAnything.Kernels;
using static SegmentAnything.Tests.Kernels.KernelReference;

namespace SegmentAnything.Tests.Kernels;

public class ConvLinearTests
{
    private static (double[] Y, double[] Mag) ConvReference(float[] x, int cin, int h, int w, float[] wt, float[]? bias,
        int cout, int kh, int kw, int stride, int pad, int groups)
    {
        int oh = (h + 2 * pad - kh) / stride + 1, ow = (w + 2 * pad - kw) / stride + 1;
        int cinG = cin / groups, coutG = cout / groups;
        var y = new double[cout * oh * ow];
        var mag = new double[y.Length];
        for (int o = 0; o < cout; o++)
        {
            int g = o / coutG;
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                {
                    double s = bias?[o] ?? 0, sa = Math.Abs(s);
                    for (int ci = 0; ci < cinG; ci++)
                        for (int ky = 0; ky < kh; ky++)
                            for (int kx = 0; kx < kw; kx++)
                            {
                                int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                double t = (double)wt[((o * cinG + ci) * kh + ky) * kw + kx] * x[((g * cinG + ci) * h + iy) * w + ix];
                                s += t;
                                sa += Math.Abs(t);
                            }
                    y[(o * oh + oy) * ow + ox] = s;
                    mag[(o * oh + oy) * ow + ox] = sa + 1e-6;
                }
        }
        return (y, mag);
    }

    [Theory]
    [InlineData(5, 7, 1, 1, 1, 0, 1, 9, 11)]      // pointwise: a single GEMM on the input
    [InlineData(3, 8, 3, 3, 1, 1, 1, 13, 17)]     // 3x3 same padding
    [InlineData(6, 10, 3, 3, 2, 1, 1, 15, 20)]    // stride 2 (TinyViT patch merging)
    [InlineData(3, 12, 16, 16, 16, 0, 1, 48, 33)] // patch embedding, ragged right edge
    [InlineData(4, 6, 3, 3, 1, 1, 2, 10, 7)]      // grouped
    [InlineData(2, 3, 7, 5, 3, 2, 1, 11, 12)]     // rectangular kernel, stride 3
    [InlineData(64, 8, 3, 3, 1, 1, 1, 60, 130)]   // im2col split into several pixel chunks
    [InlineData(7, 7, 3, 3, 1, 1, 7, 13, 29)]     // depthwise stride 1
    [InlineData(9, 9, 3, 3, 2, 1, 9, 15, 18)]     // depthwise stride 2, even input
    [InlineData(5, 5, 5, 5, 2, 2, 5, 17, 23)]     // depthwise 5x5
    [InlineData(4, 4, 3, 3, 1, 0, 4, 3, 40)]      // depthwise, no padding, single output row
    public void ConvolutionMatchesDirectReference(int cin, int cout, int kh, int kw, int stride, int pad, int groups, int h, int w)
    {
        var rnd = new Random(cin * 1000 + kh * 10 + stride);
        var x = Random(rnd, cin * h * w);
        var wt = Random(rnd, cout * (cin / groups) * kh * kw);
        foreach (var bias in new[] { null, Random(rnd, cout) })
        {
            var conv = new Conv2d(wt, bias, cin, cout, kh, kw, stride, pad, groups);
            var y = conv.Forward(x, h, w);
            var (expected, mag) = ConvReference(x, cin, h, w, wt, bias, cout, kh, kw, stride, pad, groups);
            AssertClose(y, expected, mag, 2e-6, $"conv {cin}->{cout} k{kh}x{kw} s{stride} p{pad} g{groups} bias={bias is not null}");
        }
    }

    [Fact]
    public void ConvRejectsBadShapes()
    {
        Assert.Throws<ArgumentException>(() => new Conv2d(new float[10], null, 3, 4, 3, 3));
        var conv = new Conv2d(new float[4 * 3 * 9], null, 3, 4, 3, 3);
        Assert.Throws<ArgumentException>(() => conv.Forward(new float[3 * 2 * 2], 2, 2));
        Assert.Throws<ArgumentException>(() => conv.Forward(new float[5], 4, 4));
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(7, 13, 5)]
    [InlineData(64, 256, 97)]
    [InlineData(300, 130, 270)]
    public void LinearMatchesReference(int rows, int inF, int outF)
    {
        var rnd = new Random(rows + inF + outF);
        var wt = Random(rnd, outF * inF);
        var x = Random(rnd, rows * inF);
        foreach (var bias in new[] { null, Random(rnd, outF) })
        {
            var y = new Linear(wt, bias, inF, outF).Forward(x, rows);
            var expected = new double[rows * outF];
            var mag = new double[rows * outF];
            for (int r = 0; r < rows; r++)
                for (int o = 0; o < outF; o++)
                {
                    double s = bias?[o] ?? 0, sa = Math.Abs(s);
                    for (int i = 0; i < inF; i++) { double t = (double)x[r * inF + i] * wt[o * inF + i]; s += t; sa += Math.Abs(t); }
                    expected[r * outF + o] = s;
                    mag[r * outF + o] = sa + 1e-6;
                }
            AssertClose(y, expected, mag, 2e-6, $"linear {rows}x{inF}->{outF}");
        }
    }
}
