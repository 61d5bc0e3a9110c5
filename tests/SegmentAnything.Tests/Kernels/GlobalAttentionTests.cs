using SegmentAnything.Kernels;
using static SegmentAnything.Tests.Kernels.KernelReference;

namespace SegmentAnything.Tests.Kernels;

/// <summary>The fused attention kernel against a plain double-precision softmax(scale·q·kᵀ + rel-pos)·v.</summary>
public class GlobalAttentionTests
{
    // Token counts around the 12-key and 32-query tiles, head sizes around the 8-dim value panels,
    // single sequences (one long one packs every head first) and batches of windows (one task per pair).
    [SkippableTheory]
    [InlineData(1, 1, 1, 1, 0, 0)]
    [InlineData(1, 11, 2, 7, 0, 0)]
    [InlineData(1, 12, 3, 8, 0, 0)]
    [InlineData(1, 13, 1, 9, 0, 0)]
    [InlineData(1, 31, 2, 16, 0, 0)]
    [InlineData(1, 33, 1, 64, 0, 0)]
    [InlineData(1, 35, 2, 13, 5, 7)]
    [InlineData(1, 32, 1, 64, 4, 8)]
    [InlineData(1, 100, 3, 64, 10, 10)]
    [InlineData(1, 130, 1, 17, 10, 13)]
    [InlineData(1, 300, 2, 64, 0, 0)]
    [InlineData(3, 49, 3, 24, 7, 7)]
    [InlineData(5, 37, 2, 64, 0, 0)]
    [InlineData(4, 66, 3, 8, 6, 11)]
    [InlineData(2, 196, 2, 64, 14, 14)] // ViT-B windows: a 4-query last tile
    [InlineData(4, 196, 3, 64, 14, 14)] // the same on the one-task-per-pair path (prefetching the next pair)
    [InlineData(9, 13, 1, 8, 1, 13)]    // one task per pair, a single query tile each, the last pair prefetching nothing
    [InlineData(2, 20, 1, 270, 4, 5)]   // head size over one depth block of the packed rel-pos tables
    [InlineData(1, 200, 2, 16, 4, 50)]  // rows wider than a query tile: tiles within one row, and tiles across two
    [InlineData(1, 140, 1, 32, 2, 70)]
    public void MatchesReference(int sequences, int n, int heads, int hd, int relH, int relW)
    {
        Skip.IfNot(GlobalAttention.IsSupported, "512-bit GEMM kernels not available on this machine.");
        var rnd = new Random(n * 31 + hd * 7 + heads + sequences);
        int width = heads * hd, ld = 3 * width + 5, ldo = width + 3, rows = sequences * n;
        int qOff = 2, kOff = 2 + width, vOff = 2 + 2 * width;
        float[] qkv = Random(rnd, rows * ld, 2f);
        float[]? th = relH > 0 ? Random(rnd, (2 * relH - 1) * hd, 0.5f) : null;
        float[]? tw = relH > 0 ? Random(rnd, (2 * relW - 1) * hd, 0.5f) : null;
        RelPosTables? rel = th is null ? null : new RelPosTables(relH, relW,
            Gemm.PackB(th, hd, 2 * relH - 1, hd, true), Gemm.PackB(tw!, hd, 2 * relW - 1, hd, true));
        float scale = 1f / MathF.Sqrt(hd);
        var output = new float[rows * ldo];
        output.AsSpan().Fill(float.NaN);

        GlobalAttention.Run(qkv, ld, qOff, kOff, vOff, sequences, n, heads, hd, scale, output, ldo, rel);

        var actual = new float[rows * width];
        var expected = new double[rows * width];
        var magnitude = new double[rows * width];
        var logits = new double[n];
        for (int s = 0; s < sequences; s++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < n; i++)
                {
                    int qi = (s * n + i) * ld + qOff + h * hd;
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < n; j++)
                    {
                        int kj = (s * n + j) * ld + kOff + h * hd;
                        double dot = 0;
                        for (int d = 0; d < hd; d++) dot += (double)qkv[qi + d] * qkv[kj + d];
                        double l = dot * scale;
                        if (th is not null)
                        {
                            int qy = i / relW, qx = i % relW, ky = j / relW, kx = j % relW;
                            double rh = 0, rw = 0;
                            for (int d = 0; d < hd; d++)
                            {
                                rh += (double)qkv[qi + d] * th[(qy - ky + relH - 1) * hd + d];
                                rw += (double)qkv[qi + d] * tw![(qx - kx + relW - 1) * hd + d];
                            }
                            l += rh + rw;
                        }
                        logits[j] = l;
                        max = Math.Max(max, l);
                    }
                    double sum = 0;
                    for (int j = 0; j < n; j++) sum += logits[j] = Math.Exp(logits[j] - max);
                    for (int d = 0; d < hd; d++)
                    {
                        double o = 0, mag = 0;
                        for (int j = 0; j < n; j++)
                        {
                            double v = qkv[(s * n + j) * ld + vOff + h * hd + d];
                            o += logits[j] / sum * v;
                            mag += logits[j] / sum * Math.Abs(v);
                        }
                        int at = (s * n + i) * width + h * hd + d;
                        expected[at] = o;
                        magnitude[at] = mag + 1e-6;
                        actual[at] = output[(s * n + i) * ldo + h * hd + d];
                    }
                }
        AssertClose(actual, expected, magnitude, 2e-5, $"attention seq={sequences} n={n} heads={heads} hd={hd} rel={relH}x{relW}");
        for (int r = 0; r < rows; r++)
            for (int c = width; c < ldo; c++) Assert.True(float.IsNaN(output[r * ldo + c]), "wrote past the output row");
    }

    [SkippableFact]
    public void ExpOfNonPositiveArgumentsMatchesTheGeneralExp()
    {
        Skip.IfNot(GlobalAttention.IsSupported, "AVX-512 not available on this machine.");
        var rnd = new Random(3);
        var xs = new List<float> { 0f, -0f, -1e-30f, -1e-8f, -0.34657359f, -0.5f, -1f, -10f, -80f, -87.3f, -87.33654f, -87.4f, -100f, -1e6f, float.NegativeInfinity };
        for (int i = 0; i < 4000; i++) xs.Add((float)(-rnd.NextDouble() * 90));
        while (xs.Count % 16 != 0) xs.Add(-2f);
        for (int i = 0; i < xs.Count; i += 16)
        {
            var v = System.Runtime.Intrinsics.Vector512.Create(xs.GetRange(i, 16).ToArray());
            var fast = VectorMath.ExpNonPositive(v);
            var general = VectorMath.Exp(v);
            for (int l = 0; l < 16; l++)
            {
                double exact = Math.Exp(xs[i + l]);
                Assert.True(Math.Abs(fast[l] - exact) <= 3e-7 * exact + 2e-38, $"exp({xs[i + l]}) = {fast[l]}, expected {exact}");
                if (xs[i + l] >= -87.33654f) Assert.Equal(general[l], fast[l]);
            }
        }
    }

    [SkippableFact]
    public void SoftmaxExp2MatchesTheExactPowerOfTwo()
    {
        Skip.IfNot(GlobalAttention.IsSupported, "AVX-512 not available on this machine.");
        var rnd = new Random(5);
        // Base-2 softmax arguments: at most a rounding above 0, down past the float range (results flush to 0).
        var xs = new List<float> { 0f, -0f, 1e-6f, -1e-30f, -0.5f, 0.5f, -0.49999997f, -1f, -1.5f, -126f, -127.5f, -140f, -149f, -150f, -200f, -1e6f };
        for (int i = 0; i < 4000; i++) xs.Add((float)(-rnd.NextDouble() * 130));
        while (xs.Count % 16 != 0) xs.Add(-3f);
        for (int i = 0; i < xs.Count; i += 16)
        {
            var fast = VectorMath.Exp2Softmax(System.Runtime.Intrinsics.Vector512.Create(xs.GetRange(i, 16).ToArray()));
            for (int l = 0; l < 16; l++)
            {
                double exact = Math.Pow(2, xs[i + l]);
                // 2.5e-7 relative on normal results; subnormal results keep what their fewer bits allow.
                Assert.True(Math.Abs(fast[l] - exact) <= 2.5e-7 * exact + 1.5e-45, $"2^{xs[i + l]} = {fast[l]}, expected {exact}");
            }
        }
    }

    [SkippableFact]
    public void RejectsMismatchedRelPosTables()
    {
        Skip.IfNot(GlobalAttention.IsSupported, "512-bit GEMM kernels not available on this machine.");
        var table = Gemm.PackB(new float[9 * 8], 8, 9, 8, true);
        var rel = new RelPosTables(5, 5, table, table);
        Assert.Throws<ArgumentException>(() => GlobalAttention.Run(new float[24 * 24], 24, 0, 8, 16, 24, 1, 8, 1f, new float[24 * 8], 8, rel));
    }
}
