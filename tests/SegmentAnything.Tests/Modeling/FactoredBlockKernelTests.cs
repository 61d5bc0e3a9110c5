using System.Runtime.Intrinsics;
using SegmentAnything.Modeling;

namespace SegmentAnything.Tests.Modeling;

/// <summary>
/// The factored attentions' direct low-depth kernels against double-precision loops, on sizes with row, column and
/// token tails (not multiples of the 4-row, 64-column or 16-token tiles), strided operands, an aliased input and
/// the thread split.
/// </summary>
public class FactoredBlockKernelTests
{
    [SkippableTheory]
    [InlineData(48, 56, 4096, true, true, 2)]
    [InlineData(7, 5, 83, false, true, 1)]
    [InlineData(9, 13, 1100, true, false, 2)]
    [InlineData(1, 1, 15, false, false, 1)]
    [InlineData(6, 56, 200, true, true, 2)]
    public void CombineBlockMatchesReference(int rows, int depth, int nk, bool aliased, bool withPe, int threads)
    {
        Skip.IfNot(Vector512.IsHardwareAccelerated, "Needs Vector512.");
        var rng = new Random(rows * 1000 + depth * 10 + nk);
        int lda = depth + 7, ldcoef = depth + 11;
        float[] a = Rand(rng, (rows - 1) * lda + depth), coef = Rand(rng, (rows - 1) * ldcoef + 3), p = Rand(rng, depth * nk);
        float[] from = Rand(rng, rows * nk), r = Rand(rng, nk), mu = Rand(rng, nk), pe = withPe ? Rand(rng, rows * nk) : [];
        var expected = new double[rows * nk];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < nk; j++)
            {
                double acc = 0;
                for (int t = 0; t < depth; t++) acc += (double)a[i * lda + t] * p[t * nk + j];
                double v = r[j] * (from[i * nk + j] + acc + coef[i * ldcoef] - (double)coef[i * ldcoef + 1] * mu[j]) + coef[i * ldcoef + 2];
                expected[i * nk + j] = v + (withPe ? pe[i * nk + j] : 0);
            }
        float[] c = aliased ? from : Rand(rng, rows * nk);
        FactoredBlockKernels.CombineBlock(a, lda, coef, ldcoef, p, depth, from, r, mu, pe, c, rows, nk, threads);
        AssertClose(expected, c, depth);
    }

    [SkippableTheory]
    [InlineData(48, 56, 4096, 2)]
    [InlineData(7, 5, 83, 1)]
    [InlineData(13, 9, 2100, 2)]
    [InlineData(1, 1, 15, 1)]
    [InlineData(32, 6, 1025, 2)]
    public void RowDotsMatchReference(int rows, int cols, int nk, int threads)
    {
        Skip.IfNot(Vector512.IsHardwareAccelerated, "Needs Vector512.");
        var rng = new Random(rows * 1000 + cols * 10 + nk);
        int ldz = cols + 5;
        float[] x = Rand(rng, rows * nk), p = Rand(rng, cols * nk), z = Rand(rng, (rows - 1) * ldz + cols + 3);
        float sentinel = z[^1];
        var expected = new double[rows * cols];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
            {
                double acc = 0;
                for (int t = 0; t < nk; t++) acc += (double)x[i * nk + t] * p[j * nk + t];
                expected[i * cols + j] = acc;
            }
        FactoredBlockKernels.RowDots(x, rows, p, cols, nk, z, ldz, threads);
        var got = new float[rows * cols];
        for (int i = 0; i < rows; i++) Array.Copy(z, i * ldz, got, i * cols, cols);
        AssertClose(expected, got, nk);
        Assert.Equal(sentinel, z[^1]);
    }

    [SkippableFact]
    public void ShortOperandsAreRejected()
    {
        Skip.IfNot(Vector512.IsHardwareAccelerated, "Needs Vector512.");
        Assert.Throws<ArgumentException>(() => FactoredBlockKernels.RowDots(new float[10], 2, new float[10], 2, 6, new float[4], 2, 1));
        Assert.Throws<ArgumentException>(() => FactoredBlockKernels.CombineBlock(new float[4], 2, new float[3], 3, new float[7], 2,
            new float[8], new float[4], new float[4], default, new float[8], 2, 4, 1));
    }

    private static float[] Rand(Random rng, int n)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float)(rng.NextDouble() * 2 - 1);
        return v;
    }

    private static void AssertClose(double[] expected, float[] got, int depth)
    {
        double tol = 1e-5 * Math.Sqrt(depth) + 1e-6;
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - got[i]) <= tol * (1 + Math.Abs(expected[i])), $"[{i}] expected {expected[i]}, got {got[i]}");
    }
}
