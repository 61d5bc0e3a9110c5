using System.Runtime.Intrinsics;
using SegmentAnything.Kernels;
using SegmentAnything.Modeling;

namespace SegmentAnything.Tests.Kernels;

/// <summary>The factored attentions' fused softmax passes against the separate operations they replace.</summary>
public class FusedSoftmaxTests
{
    private static float[] Random(int n, int seed, float scale, float offset = 0f)
    {
        var rng = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = offset + (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    [Theory]
    [InlineData(1, 7, 17)]
    [InlineData(3, 5, 4096)]
    public void ColumnSoftmaxFromSourceMatchesInPlace(int groups, int rows, int cols)
    {
        float[] x = Random(groups * rows * cols, 7, 4f);
        var inPlace = (float[])x.Clone();
        ColumnSoftmax.Apply(inPlace, groups, rows, cols, 0.3f);
        var dst = new float[x.Length];
        var src = (float[])x.Clone();
        ColumnSoftmax.Apply(src, dst, groups, rows, cols, 0.3f);
        Assert.Equal(x, src);
        Assert.Equal(inPlace, dst);
    }

    [SkippableTheory]
    [InlineData(1, 0f)]
    [InlineData(15, 0f)]
    [InlineData(17, 0f)]
    [InlineData(4096, 0f)]
    [InlineData(4099, 1000f)]
    public void SoftmaxScaleAndSumMatchesSoftmaxThenScaling(int n, float offset)
    {
        Skip.IfNot(Vector512.IsHardwareAccelerated, "The fused pass needs Vector512.");
        float scale = 0.25f;
        float[] x = Random(n, n, 20f, offset), r = Random(n, n + 1, 1f, 1.5f), mu = Random(n, n + 2, 2f);
        // Reference in double: softmax of x·scale, sum, then p ⊙ r, its sum and dot with mu.
        double max = double.NegativeInfinity;
        foreach (float v in x) max = Math.Max(max, (double)v * scale);
        var p = new double[n];
        double total = 0;
        for (int i = 0; i < n; i++) total += p[i] = Math.Exp(x[i] * (double)scale - max);
        double before = 0, after = 0, dot = 0;
        for (int i = 0; i < n; i++)
        {
            p[i] /= total;
            before += p[i];
            p[i] *= r[i];
            after += p[i];
            dot += p[i] * mu[i];
        }
        var (b, a, d) = FactoredChunk.SoftmaxScaleAndSum(x, scale, r, mu);
        Assert.True(Math.Abs(b - before) < 1e-5, $"sum {b} vs {before}");
        Assert.True(Math.Abs(a - after) < 1e-5 * Math.Max(1, Math.Abs(after)), $"scaled sum {a} vs {after}");
        Assert.True(Math.Abs(d - dot) < 1e-5 * Math.Max(1, Math.Abs(dot)), $"dot {d} vs {dot}");
        for (int i = 0; i < n; i++) Assert.True(Math.Abs(x[i] - p[i]) <= 1e-6 + 1e-5 * p[i], $"element {i}: {x[i]} vs {p[i]}");
    }
}

/// <summary>The statistics-only residual LayerNorm against the full pass's statistics, bit for bit.</summary>
public class ResidualLayerNormStatisticsTests
{
    [Theory]
    [InlineData(5, 256, 0f)]
    [InlineData(3, 24, 0f)]
    [InlineData(4, 256, 500f)]
    public void StatisticsMatchTheFullPass(int rows, int dim, float offset)
    {
        var rng = new Random(rows * 31 + dim);
        float[] Rand(int n, float o) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = o + (float)(rng.NextDouble() * 2 - 1) * 3f; return a; }
        float[] x = Rand(rows * dim, offset), res = Rand(rows * dim, 0f), pos = Rand(rows * dim, 0f), w = Rand(dim, 1f), b = Rand(dim, 0f);
        float[] y = new float[rows * dim], q = new float[rows * dim], mean = new float[rows], rstd = new float[rows];
        ResidualLayerNorm.Apply(x, res, pos, y, q, rows, dim, w, b, 1e-5f, mean, rstd);
        float[] sx = (float[])x.Clone(), sm = new float[rows], sr = new float[rows];
        ResidualLayerNorm.Statistics(sx, res, rows, dim, 1e-5f, sm, sr);
        Assert.Equal(mean, sm);
        Assert.Equal(rstd, sr);
        for (int i = 0; i < sx.Length; i++) Assert.Equal(x[i] + res[i], sx[i]);
    }
}
