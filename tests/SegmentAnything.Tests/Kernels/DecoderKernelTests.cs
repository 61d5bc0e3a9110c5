using SegmentAnything.Kernels;

namespace SegmentAnything.Tests.Kernels;

/// <summary>The decoder's fused kernels against the separate operations they replace, across awkward sizes.</summary>
public class DecoderKernelTests
{
    private static float[] Random(int n, int seed, float scale = 3f)
    {
        var rng = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(1, 7, 15)]
    [InlineData(2, 7, 16)]
    [InlineData(8, 7, 17)]
    [InlineData(3, 5, 33)]
    [InlineData(8, 4, 4096)]
    public void ColumnSoftmaxMatchesRowSoftmaxOfTheTranspose(int groups, int rows, int cols)
    {
        float scale = 0.25f;
        float[] x = Random(groups * rows * cols, groups * 1000 + rows * 100 + cols);
        // Reference: per group, transpose to [cols, rows] and take the row softmax.
        var expected = new float[x.Length];
        for (int g = 0; g < groups; g++)
        {
            var t = new float[cols * rows];
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++) t[c * rows + r] = x[(g * rows + r) * cols + c];
            NarrowSoftmax.Apply(t, cols, rows, scale);
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++) expected[(g * rows + r) * cols + c] = t[c * rows + r];
        }
        ColumnSoftmax.Apply(x, groups, rows, cols, scale);
        for (int i = 0; i < x.Length; i++) Assert.True(MathF.Abs(x[i] - expected[i]) <= 1e-6f, $"element {i}: {x[i]} vs {expected[i]}");
    }

    [Theory]
    [InlineData(1, 16)]
    [InlineData(5, 256)]
    [InlineData(3, 24)]
    [InlineData(2, 1)]
    public void ResidualLayerNormMatchesAddNormAdd(int rows, int dim)
    {
        float[] x = Random(rows * dim, 1), res = Random(rows * dim, 2), pos = Random(rows * dim, 3), w = Random(dim, 4), b = Random(dim, 5);
        var expected = new float[rows * dim];
        Elementwise.Add(x, res, expected);
        Normalization.LayerNorm(expected, rows, dim, w, b, 1e-5f);
        var expectedPos = new float[rows * dim];
        Elementwise.Add(expected, pos, expectedPos);
        // In place over the residual, as the decoder calls it.
        var y = (float[])res.Clone();
        var q = new float[rows * dim];
        ResidualLayerNorm.Apply(x, y, pos, y, q, rows, dim, w, b, 1e-5f);
        for (int i = 0; i < y.Length; i++)
        {
            Assert.True(MathF.Abs(y[i] - expected[i]) <= 1e-5f * (1 + MathF.Abs(expected[i])), $"y[{i}]: {y[i]} vs {expected[i]}");
            Assert.True(MathF.Abs(q[i] - expectedPos[i]) <= 1e-5f * (1 + MathF.Abs(expectedPos[i])), $"y+pos[{i}]: {q[i]} vs {expectedPos[i]}");
        }
    }

    [Fact]
    public void ResidualLayerNormRefusesShortOperands()
    {
        var a = new float[8];
        Assert.Throws<ArgumentException>(() => ResidualLayerNorm.Apply(a, a, a, a, new float[4], 2, 4, new float[4], new float[4], 1e-5f));
    }
}
