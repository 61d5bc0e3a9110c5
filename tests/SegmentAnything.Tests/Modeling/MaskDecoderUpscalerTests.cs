using SegmentAnything.Kernels;
using SegmentAnything.Modeling;
using SegmentAnything.Tests.Api;
using SegmentAnything.Tests.Support;

namespace SegmentAnything.Tests.Modeling;

/// <summary>
/// The decoder's upscaling with the fused GELU, hypernetwork product and pixel-shuffled stores must write
/// exactly the logits of the unfused path, and both must match a plain reading of output_upscaling
/// (ConvT, LayerNorm2d, GELU, ConvT, GELU, hypernetwork product), on grids whose width is and is not a
/// multiple of four tokens, with one to four masks. In the allocation collection because it flips a static switch.
/// </summary>
[Collection(nameof(AllocationMeasurements))]
public class MaskDecoderUpscalerTests
{
    private const int In = 24, Mid = 8, Out = 32;

    [Theory]
    [InlineData(2, 4, 1)]
    [InlineData(3, 8, 3)]
    [InlineData(5, 12, 4)]
    [InlineData(4, 64, 3)]
    [InlineData(3, 5, 3)]
    [InlineData(1, 7, 1)]
    [InlineData(5, 6, 2)]
    public void FusedStoresMatchTheUnfusedPathAndAPlainReference(int h, int w, int masks)
    {
        var rng = new Random(h * 100 + w * 10 + masks);
        float[] R(int n, double scale = 1) => Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() * 2 - 1) * scale)).ToArray();
        float[] w1 = R(In * Mid * 4, 0.3), b1 = R(Mid, 0.2), w2 = R(Mid * Out * 4, 0.4), b2 = R(Out, 0.2);
        var norm = new LayerNormParams(R(Mid, 1).Select(v => 1 + 0.5f * v).ToArray(), R(Mid, 0.3), 1e-6f);
        var upscaler = new MaskDecoderUpscaler(w1, b1, w2, b2, norm, In, Mid, Out);
        float[] keys = R(h * w * In, 2), hyper = R(masks * Out + 5, 1);
        int pixels = 16 * h * w;

        float[] Run(bool fused)
        {
            // A non-zero offset and a sentinel-filled destination: every logit must be written, nothing outside.
            var dst = Enumerable.Repeat(float.NaN, 3 + masks * pixels + 3).ToArray();
            MaskDecoderUpscaler.FuseHyperStore = fused;
            try { upscaler.Run(keys, h, w, hyper, 5, masks, dst, 3); }
            finally { MaskDecoderUpscaler.FuseHyperStore = true; }
            Assert.All(new[] { 0, 1, 2, dst.Length - 3, dst.Length - 2, dst.Length - 1 }, i => Assert.True(float.IsNaN(dst[i])));
            return dst[3..^3];
        }

        float[] fusedOut = Run(true), plain = Run(false);
        Assert.All(fusedOut, v => Assert.True(float.IsFinite(v)));
        Assert.Equal(plain, fusedOut);
        float[] reference = Reference(keys, h, w, hyper.AsSpan(5, masks * Out).ToArray(), masks, w1, b1, w2, b2, norm);
        Assert.True(Parity.RelativeL2(fusedOut, reference) < 1e-5, $"relative L2 {Parity.RelativeL2(fusedOut, reference)}");
    }

    /// <summary>output_upscaling and the hypernetwork product element by element, in double.</summary>
    private static float[] Reference(float[] keys, int h, int w, float[] hyper, int masks, float[] w1, float[] b1, float[] w2, float[] b2, LayerNormParams norm)
    {
        int h1 = 2 * h, wd1 = 2 * w, h2 = 4 * h, wd2 = 4 * w;
        static double Gelu(double x) => 0.5 * x * (1 + MathExtra.Erf(x / Math.Sqrt(2)));
        var a = new double[Mid, h1, wd1];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int o = 0; o < Mid; o++)
                    for (int s = 0; s < 4; s++)
                    {
                        double v = b1[o];
                        for (int i = 0; i < In; i++) v += keys[(y * w + x) * In + i] * (double)w1[(i * Mid + o) * 4 + s];
                        a[o, 2 * y + s / 2, 2 * x + s % 2] = v;
                    }
        for (int y = 0; y < h1; y++)
            for (int x = 0; x < wd1; x++)
            {
                double mean = 0, var = 0;
                for (int o = 0; o < Mid; o++) mean += a[o, y, x] / Mid;
                for (int o = 0; o < Mid; o++) var += (a[o, y, x] - mean) * (a[o, y, x] - mean) / Mid;
                for (int o = 0; o < Mid; o++)
                    a[o, y, x] = Gelu((a[o, y, x] - mean) / Math.Sqrt(var + norm.Eps) * norm.Weight[o] + norm.Bias[o]);
            }
        var result = new float[masks * h2 * wd2];
        var up = new double[Out];
        for (int y = 0; y < h1; y++)
            for (int x = 0; x < wd1; x++)
                for (int s = 0; s < 4; s++)
                {
                    for (int c = 0; c < Out; c++)
                    {
                        double v = b2[c];
                        for (int o = 0; o < Mid; o++) v += a[o, y, x] * w2[(o * Out + c) * 4 + s];
                        up[c] = Gelu(v);
                    }
                    for (int t = 0; t < masks; t++)
                    {
                        double m = 0;
                        for (int c = 0; c < Out; c++) m += hyper[t * Out + c] * up[c];
                        result[(t * h2 + 2 * y + s / 2) * wd2 + 2 * x + s % 2] = (float)m;
                    }
                }
        return result;
    }
}
