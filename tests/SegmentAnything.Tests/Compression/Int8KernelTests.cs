using SegmentAnything.Kernels;

namespace SegmentAnything.Tests.Compression;

public class Int8KernelTests
{
    public static IEnumerable<object[]> Isas() =>
        Enum.GetValues<Int8Isa>().Where(Int8IsaInfo.IsSupported).Select(i => new object[] { i });

    public static IEnumerable<object[]> Cases()
    {
        (int M, int N, int K)[] sizes =
        [
            (1, 1, 1), (3, 17, 5), (5, 33, 37), (4, 16, 64), (7, 15, 3), (13, 50, 129), (70, 40, 260),
            // Around the wide kernel's 12-row / 32-column tiles, its 16-pair widening step and odd depths.
            (11, 31, 31), (12, 32, 32), (13, 33, 33), (24, 64, 2), (25, 63, 65), (23, 96, 95),
            // Several 96-row blocks and column tiles on the parallel path (m·n·k above the threshold).
            (97, 65, 191), (200, 130, 64),
        ];
        foreach (var isa in Enum.GetValues<Int8Isa>().Where(Int8IsaInfo.IsSupported))
            foreach (var (m, n, k) in sizes) yield return [isa, m, n, k];
    }

    /// <summary>Exact reference: the same per-row activation quantisation, int64 dot products, the same float epilogue.</summary>
    private static float[] Reference(float[] x, int ldx, int m, sbyte[] w, float[] ws, int n, int k, float[] y0, int ldy, float[]? bias, bool accumulate)
    {
        var y = (float[])y0.Clone();
        var q = new sbyte[k];
        for (int r = 0; r < m; r++)
        {
            float sx = Int8Quantize.Row(x.AsSpan(r * ldx, k), q);
            for (int c = 0; c < n; c++)
            {
                long acc = 0;
                for (int p = 0; p < k; p++) acc += q[p] * w[c * k + p];
                float v = (int)acc * sx * ws[c];
                if (accumulate) v += y[r * ldy + c];
                else if (bias is not null) v += bias[c];
                y[r * ldy + c] = v;
            }
        }
        return y;
    }

    private static (sbyte[] W, float[] Scales) RandomWeights(Random rng, int n, int k)
    {
        var w = new sbyte[n * k];
        for (int i = 0; i < w.Length; i++) w[i] = (sbyte)rng.Next(-127, 128);
        if (w.Length > 0) { w[0] = 127; w[^1] = -127; }
        var s = new float[n];
        for (int i = 0; i < n; i++) s[i] = 0.001f + (float)rng.NextDouble() * 0.01f;
        return (w, s);
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void Kernel_matches_exact_reference(Int8Isa isa, int m, int n, int k)
    {
        var rng = new Random(m * 1000 + n * 10 + k);
        var (w, ws) = RandomWeights(rng, n, k);
        var packed = new Int8Matrix(w, ws, n, k);
        int ldx = k + 3, ldy = n + 2;
        var x = new float[m * ldx];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 4 - 2);
        var bias = new float[n];
        for (int i = 0; i < n; i++) bias[i] = (float)rng.NextDouble();
        var y0 = new float[m * ldy];
        for (int i = 0; i < y0.Length; i++) y0[i] = (float)rng.NextDouble();
        foreach (bool accumulate in new[] { false, true })
        {
            var y = (float[])y0.Clone();
            Int8Gemm.MatMul(x, ldx, m, packed, y, ldy, bias, accumulate, isa);
            var expected = Reference(x, ldx, m, w, ws, n, k, y0, ldy, bias, accumulate);
            Assert.Equal(expected, y);
        }
    }

    /// <summary>All-extreme operands: every vpmaddubsw pair is ±2·127·127, the largest the sign trick allows.</summary>
    [SkippableTheory]
    [MemberData(nameof(Isas))]
    public void Extreme_values_do_not_saturate(Int8Isa isa)
    {
        const int m = 5, n = 19, k = 67;
        var w = new sbyte[n * k];
        for (int c = 0; c < n; c++) for (int p = 0; p < k; p++) w[c * k + p] = (sbyte)(c % 2 == 0 ? 127 : -127);
        var ws = Enumerable.Repeat(1f, n).ToArray();
        var x = new float[m * k];
        for (int r = 0; r < m; r++) for (int p = 0; p < k; p++) x[r * k + p] = r % 2 == 0 ? 3f : -3f;
        var y = new float[m * n];
        Int8Gemm.MatMul(x, k, m, new Int8Matrix(w, ws, n, k), y, n, isa: isa);
        float sx = 3f / 127f;
        for (int r = 0; r < m; r++)
            for (int c = 0; c < n; c++)
            {
                int sign = (r % 2 == 0 ? 1 : -1) * (c % 2 == 0 ? 1 : -1);
                Assert.Equal(sign * k * 127 * 127 * sx, y[r * n + c]);
            }
    }

    [Fact]
    public void Quantised_rows_round_half_to_even_and_stay_symmetric()
    {
        var rng = new Random(5);
        for (int len = 1; len < 80; len += 7)
        {
            var x = new float[len];
            for (int i = 0; i < len; i++) x[i] = (float)(rng.NextDouble() * 2 - 1) * (i + 1);
            var q = new sbyte[len];
            float s = Int8Quantize.Row(x, q);
            float amax = x.Max(MathF.Abs);
            Assert.Equal(amax / 127f, s);
            for (int i = 0; i < len; i++) Assert.Equal((sbyte)Math.Clamp(MathF.Round(x[i] * (127f / amax)), -127, 127), q[i]);
            Assert.Contains(q, v => Math.Abs(v) == 127);
        }
        var zeros = new sbyte[9];
        Assert.Equal(1f, Int8Quantize.Row(new float[9], zeros));
        Assert.All(zeros, v => Assert.Equal(0, v));
    }

    /// <summary>One matrix serves every kernel: the layout not packed at construction is derived from the other.</summary>
    [Fact]
    public void All_isas_agree_on_one_matrix()
    {
        const int m = 29, n = 47, k = 75;
        var rng = new Random(3);
        var (w, ws) = RandomWeights(rng, n, k);
        var packed = new Int8Matrix(w, ws, n, k);
        var x = new float[m * k];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        var expected = Reference(x, k, m, w, ws, n, k, new float[m * n], n, null, false);
        foreach (var isa in Enum.GetValues<Int8Isa>().Where(Int8IsaInfo.IsSupported))
        {
            var y = new float[m * n];
            Int8Gemm.MatMul(x, k, m, packed, y, n, isa: isa);
            Assert.Equal(expected, y);
        }
    }

    [Fact]
    public void Weights_of_minus_128_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => new Int8Matrix(new sbyte[] { -128, 0 }, new[] { 1f }, 1, 2));
    }

    [Fact]
    public void Linear_with_attached_int8_weights_runs_int8_and_stays_close_to_float()
    {
        const int inF = 96, outF = 40, rows = 33;
        var rng = new Random(9);
        var wf = new float[inF * outF];
        for (int i = 0; i < wf.Length; i++) wf[i] = (float)(rng.NextDouble() * 2 - 1);
        var (q, scales) = Int8Quantize.Weights(wf, outF, inF);
        var deq = new float[wf.Length];
        for (int i = 0; i < deq.Length; i++) deq[i] = q[i] * scales[i / inF];
        var bias = new float[outF];
        for (int i = 0; i < outF; i++) bias[i] = (float)rng.NextDouble();
        var x = new float[rows * inF];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);

        var floatY = new Linear((float[])deq.Clone(), bias, inF, outF).Forward(x, rows);
        Int8Linear.Attach(deq, q, scales);
        Assert.True(Int8Linear.IsAttached(deq));
        var previous = Int8Linear.Execution;
        try
        {
            Int8Linear.Execution = Int8Execution.Dynamic;
            var int8Y = new Linear(deq, bias, inF, outF).Forward(x, rows);
            var expected = Reference(x, inF, rows, q, scales, outF, inF, new float[rows * outF], outF, bias, false);
            Assert.Equal(expected, int8Y);
            double err = 0, norm = 0;
            for (int i = 0; i < floatY.Length; i++) { err += Math.Pow(floatY[i] - int8Y[i], 2); norm += floatY[i] * (double)floatY[i]; }
            Assert.InRange(Math.Sqrt(err / norm), 1e-5, 2e-2);
        }
        finally { Int8Linear.Execution = previous; }
    }
}
