using SegmentAnything.Kernels;
using static SegmentAnything.Tests.Kernels.KernelReference;

namespace SegmentAnything.Tests.Kernels;

public class GemmTests
{
    private const double Tol = 2e-6;

    public static IEnumerable<object[]> Isas() =>
        Enum.GetValues<GemmIsa>().Where(GemmIsaInfo.IsSupported).Select(i => new object[] { i });

    /// <summary>C = alpha·op(A)·op(B) (+ C0) + biases in double, with Σ|terms| as the error scale.</summary>
    private static (double[] C, double[] Mag) Reference(int m, int n, int k, float[] a, int lda, bool at, float[] b, int ldb, bool bt,
        float[]? c0, int ldc, float alpha, float[]? rowBias, float[]? colBias)
    {
        var c = new double[m * n];
        var mag = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0, sa = 0;
                for (int p = 0; p < k; p++)
                {
                    double x = at ? a[p * lda + i] : a[i * lda + p];
                    double y = bt ? b[j * ldb + p] : b[p * ldb + j];
                    s += x * y;
                    sa += Math.Abs(x * y);
                }
                s *= alpha;
                sa *= Math.Abs(alpha);
                if (c0 is not null) { s += c0[i * ldc + j]; sa += Math.Abs(c0[i * ldc + j]); }
                else
                {
                    if (rowBias is not null) { s += rowBias[i]; sa += Math.Abs(rowBias[i]); }
                    if (colBias is not null) { s += colBias[j]; sa += Math.Abs(colBias[j]); }
                }
                c[i * n + j] = s;
                mag[i * n + j] = sa + 1e-6;
            }
        return (c, mag);
    }

    private static float[] Extract(float[] c, int m, int n, int ldc)
    {
        var r = new float[m * n];
        for (int i = 0; i < m; i++) Array.Copy(c, i * ldc, r, i * n, n);
        return r;
    }

    [Theory]
    [MemberData(nameof(Isas))]
    public void StridedProductsMatchReferenceOnAwkwardSizes(GemmIsa isa)
    {
        var rnd = new Random(42 + (int)isa);
        int[] sizes = [1, 2, 3, 5, 7, 8, 11, 13, 16, 17, 31, 32, 33, 47, 64, 97, 127, 130];
        for (int trial = 0; trial < 60; trial++)
        {
            int m = sizes[rnd.Next(sizes.Length)], n = sizes[rnd.Next(sizes.Length)], k = sizes[rnd.Next(sizes.Length)];
            bool at = rnd.Next(2) == 1, bt = rnd.Next(2) == 1, acc = rnd.Next(3) == 0, bias = !acc && rnd.Next(2) == 1;
            int lda = (at ? m : k) + rnd.Next(3), ldb = (bt ? k : n) + rnd.Next(3), ldc = n + rnd.Next(3);
            float alpha = rnd.Next(2) == 0 ? 1f : 0.125f;
            var a = Random(rnd, (at ? k : m) * lda);
            var b = Random(rnd, (bt ? n : k) * ldb);
            var c = Random(rnd, m * ldc);
            var c0 = (float[])c.Clone();
            float[]? rb = bias ? Random(rnd, m) : null, cb = bias ? Random(rnd, n) : null;
            int threads = rnd.Next(1, 3);
            Gemm.MatMulCore(isa, threads, m, n, k, a, lda, at, b, ldb, bt, c, ldc, alpha, acc, rb, cb);
            var (expected, mag) = Reference(m, n, k, a, lda, at, b, ldb, bt, acc ? c0 : null, ldc, alpha, rb, cb);
            AssertClose(Extract(c, m, n, ldc), expected, mag, Tol, $"{isa} m={m} n={n} k={k} at={at} bt={bt} acc={acc}");
            // Padding columns between rows of C are not touched.
            for (int i = 0; i < m; i++)
                for (int j = n; j < ldc; j++) Assert.Equal(c0[i * ldc + j], c[i * ldc + j]);
        }
    }

    [Theory]
    [InlineData(300, 520, 270, false)]
    [InlineData(257, 4100, 19, true)]
    [InlineData(1, 700, 600, true)]
    [InlineData(700, 1, 600, false)]
    public void LargeProductsCrossBlockBoundaries(int m, int n, int k, bool bt)
    {
        // Exceeds KC, NC and MC so every block edge and the multithreaded path are exercised.
        var rnd = new Random(m + n + k);
        var a = Random(rnd, m * k);
        var b = Random(rnd, k * n);
        var c = new float[m * n];
        Gemm.MatMul(a, b, c, m, k, n, bt);
        var (expected, mag) = Reference(m, n, k, a, k, false, b, bt ? k : n, bt, null, n, 1f, null, null);
        AssertClose(c, expected, mag, Tol, $"m={m} n={n} k={k}");
    }

    [Fact]
    public void LegacySignatureAccumulates()
    {
        var rnd = new Random(3);
        int m = 37, k = 29, n = 41;
        var a = Random(rnd, m * k);
        var b = Random(rnd, n * k);
        var c = Random(rnd, m * n);
        var c0 = (float[])c.Clone();
        Gemm.MatMul(a, b, c, m, k, n, bTransposed: true, accumulate: true);
        var (expected, mag) = Reference(m, n, k, a, k, false, b, k, true, c0, n, 1f, null, null);
        AssertClose(c, expected, mag, Tol, "legacy accumulate");
    }

    [Fact]
    public void BatchedProductsMatchPerHeadReference()
    {
        // Attention layout: Q, K, V are [tokens, heads·dim]; head h is a column block with ld = heads·dim.
        var rnd = new Random(5);
        foreach (var (tokens, heads, dim) in new[] { (49, 4, 16), (130, 3, 24), (7, 8, 32), (196, 4, 64) })
        {
            int width = heads * dim;
            var q = Random(rnd, tokens * width);
            var kk = Random(rnd, tokens * width);
            var scores = new float[heads * tokens * tokens];
            Gemm.MatMulBatched(heads, tokens, tokens, dim, q, width, dim, false, kk, width, dim, true,
                scores, tokens, tokens * tokens, alpha: 0.25f);
            for (int h = 0; h < heads; h++)
            {
                var (expected, mag) = Reference(tokens, tokens, dim, q[(h * dim)..], width, false, kk[(h * dim)..], width, true,
                    null, tokens, 0.25f, null, null);
                AssertClose(scores.AsSpan(h * tokens * tokens, tokens * tokens), expected, mag, Tol, $"QK head {h}");
            }
            var v = Random(rnd, tokens * width);
            var outp = new float[tokens * width];
            Gemm.MatMulBatched(heads, tokens, dim, tokens, scores, tokens, tokens * tokens, false, v, width, dim, false,
                outp, width, dim);
            for (int h = 0; h < heads; h++)
            {
                var (expected, mag) = Reference(tokens, dim, tokens, scores[(h * tokens * tokens)..], tokens, false, v[(h * dim)..], width, false,
                    null, dim, 1f, null, null);
                var got = new float[tokens * dim];
                for (int t = 0; t < tokens; t++) Array.Copy(outp, t * width + h * dim, got, t * dim, dim);
                AssertClose(got, expected, mag, Tol, $"PV head {h}");
            }
        }
    }

    [Fact]
    public void PrepackedWeightsWithBias()
    {
        var rnd = new Random(9);
        foreach (var (m, k, n) in new[] { (5, 7, 3), (33, 300, 70), (200, 513, 100), (1, 1, 1) })
        {
            var w = Random(rnd, n * k); // [out, in] as nn.Linear stores it
            var bias = Random(rnd, n);
            var x = Random(rnd, m * k);
            var packed = Gemm.PackB(w, k, n, k, bTransposed: true);
            var y = new float[m * n];
            Gemm.MatMul(m, x, k, false, packed, y, n, bias);
            var (expected, mag) = Reference(m, n, k, x, k, false, w, k, true, null, n, 1f, null, bias);
            AssertClose(y, expected, mag, Tol, $"packed m={m} k={k} n={n}");
            var y0 = (float[])y.Clone();
            Gemm.MatMul(m, x, k, false, packed, y, n, accumulate: true);
            var (twice, mag2) = Reference(m, n, k, x, k, false, w, k, true, y0, n, 1f, null, null);
            AssertClose(y, twice, mag2, Tol, "packed accumulate");
        }
    }

    [Fact]
    public void RepackedOperandGivesTheNewValuesProduct()
    {
        var rnd = new Random(11);
        foreach (var (m, k, n) in new[] { (7, 256, 300), (40, 513, 33), (1, 3, 1) })
        {
            var packed = Gemm.PackB(Random(rnd, n * k), k, n, k, bTransposed: true);
            var b = Random(rnd, n * k);
            Gemm.RepackB(packed, b, k, bTransposed: true);
            var x = Random(rnd, m * k);
            var y = new float[m * n];
            Gemm.MatMul(m, x, k, false, packed, y, n);
            var (expected, mag) = Reference(m, n, k, x, k, false, b, k, true, null, n, 1f, null, null);
            AssertClose(y, expected, mag, Tol, $"repacked m={m} k={k} n={n}");
        }
        var p = Gemm.PackB(new float[12], 3, 4, 4, bTransposed: false);
        Assert.Throws<ArgumentException>(() => Gemm.RepackB(p, new float[11], 4, bTransposed: false));
    }

    [Fact]
    public void DegenerateShapesAndBadArguments()
    {
        var c = new float[6] { 1, 1, 1, 1, 1, 1 };
        Gemm.MatMul(new float[0], new float[0], c, 2, 0, 3);
        Assert.All(c, v => Assert.Equal(0f, v));
        Gemm.MatMul(new float[0], new float[0], new float[0], 0, 5, 0);
        Assert.Throws<ArgumentException>(() => Gemm.MatMul(new float[5], new float[6], new float[6], 2, 3, 2));
        Assert.Throws<ArgumentException>(() => Gemm.MatMul(2, 2, 3, new float[6], 2, false, new float[6], 2, false, new float[4], 2));
        Assert.Throws<ArgumentException>(() => Gemm.MatMul(-1, 2, 3, new float[6], 3, false, new float[6], 2, false, new float[4], 2));
        Assert.Throws<ArgumentException>(() => Gemm.MatMulBatched(3, 2, 2, 2, new float[8], 2, 4, false, new float[12], 2, 4, false, new float[12], 2, 4));
    }
}
