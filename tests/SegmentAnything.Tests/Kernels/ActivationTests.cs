using SegmentAnything.Kernels;
using static SegmentAnything.Tests.Kernels.KernelReference;

namespace SegmentAnything.Tests.Kernels;

public class ActivationTests
{
    /// <summary>
    /// Independent high-precision erf: Maclaurin series for |x| &lt; 2.5 (terms stay below e^6.25, so
    /// double keeps ~13 digits), Lentz continued fraction for erfc beyond.
    /// </summary>
    internal static double ErfReference(double x)
    {
        double ax = Math.Abs(x);
        if (ax < 2.5)
        {
            double sum = 0, term = ax; // term = (-1)^n x^(2n+1) / n!
            for (int n = 0; n < 200; n++)
            {
                double t = term / (2 * n + 1);
                sum += t;
                if (Math.Abs(t) < 1e-18 * Math.Abs(sum)) break;
                term *= -ax * ax / (n + 1);
            }
            return Math.CopySign(2 / Math.Sqrt(Math.PI) * sum, x);
        }
        return Math.CopySign(1 - ErfcContinuedFraction(ax), x);
    }

    internal static double ErfcContinuedFraction(double x)
    {
        // erfc(x) = exp(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))), evaluated bottom-up.
        double f = x;
        for (int n = 200; n >= 1; n--) f = x + n / 2.0 / f;
        return Math.Exp(-x * x) / Math.Sqrt(Math.PI) / f;
    }

    [Fact]
    public void DoubleErfMatchesSeriesReference()
    {
        for (double x = -6; x <= 6; x += 0.001953125 * 3.1)
        {
            double expected = ErfReference(x);
            Assert.True(Math.Abs(MathExtra.Erf(x) - expected) <= 2e-15 + 1e-14 * Math.Abs(expected), $"Erf({x}) = {MathExtra.Erf(x)}, expected {expected}");
        }
        foreach (double x in new[] { 0.5, 1.0, 2.0, 3.0, 4.5, 6.0, 9.0 })
        {
            double expected = ErfcContinuedFraction(x);
            if (x < 2.5) expected = 1 - ErfReference(x);
            Assert.True(Math.Abs(MathExtra.Erfc(x) - expected) <= 1e-13 * expected, $"Erfc({x}) = {MathExtra.Erfc(x)}, expected {expected}");
        }
        Assert.Equal(0.5204998778130465, MathExtra.Erf(0.5), 14);
    }

    [Fact]
    public void FloatErfIsWithinTwoAndAHalfUlpAndTwoTenMillionthsRelative()
    {
        var xs = new List<float>();
        for (int i = -300000; i <= 300000; i++) xs.Add(i * (5f / 300000));
        xs.AddRange([1e-30f, -1e-20f, 1e-5f, 0.46875f, 0.99999994f, 1f, 1.0000001f, 3.9199998f, 3.92f, 10f, -10f, float.MaxValue]);
        var data = xs.ToArray();
        Activations.Erf(data);
        double maxUlp = 0, maxRel = 0;
        for (int i = 0; i < data.Length; i++)
        {
            double r = ErfReference(xs[i]);
            float rf = (float)r;
            double ulp = Math.Abs(MathF.BitIncrement(MathF.Abs(rf)) - MathF.Abs(rf));
            maxUlp = Math.Max(maxUlp, Math.Abs(data[i] - r) / ulp);
            if (r != 0) maxRel = Math.Max(maxRel, Math.Abs(data[i] - r) / Math.Abs(r));
            Assert.Equal(data[i], MathExtra.ErfF(xs[i])); // scalar twin gives the same bits as a vector lane
        }
        Assert.True(maxUlp <= 2.5, $"max error {maxUlp:F2} ulp");
        Assert.True(maxRel < 2e-7, $"max relative error {maxRel:E2}");
        var special = new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity, 0f, -0f };
        Activations.Erf(special);
        Assert.True(float.IsNaN(special[0]));
        Assert.Equal([1f, -1f, 0f], special[1..4]);
    }

    private static double GeluReference(double x) =>
        x >= 0 ? 0.5 * x * (1 + ErfReference(x / Math.Sqrt(2))) : 0.5 * x * ErfcRef(-x / Math.Sqrt(2));

    private static double ErfcRef(double z) => z < 2.5 ? 1 - ErfReference(z) : ErfcContinuedFraction(z);

    [Theory]
    [InlineData(1)]
    [InlineData(15)]
    [InlineData(37)]
    [InlineData(100_003)]
    public void GeluMatchesExactReference(int n)
    {
        var rnd = new Random(n);
        var x = Random(rnd, n, 8f);
        if (n > 10) x[3] = -5.5f;
        var y = (float[])x.Clone();
        Activations.Gelu(y);
        var expected = x.Select(v => GeluReference(v)).ToArray();
        // Relative 1e-6, plus an absolute 1.5e-8·|x|: below x ≈ −5.54 GELU is flushed to 0 (erfc(3.92)·|x|/2
        // < 1.5e-8·|x|), as PyTorch's float 1 + erf also gives there.
        var mag = expected.Select((e, i) => Math.Abs(e) + 1.5e-2 * Math.Abs(x[i])).ToArray();
        AssertClose(y, expected, mag, 1e-6, "gelu");
        for (int i = 0; i < n; i++)
        {
            // The scalar tail and the vector body agree exactly.
            var one = new[] { x[i] };
            Activations.Gelu(one);
            Assert.Equal(y[i], one[0]);
            if (i > 50) break;
        }
    }

    [Fact]
    public void ReluAndSigmoid()
    {
        var rnd = new Random(2);
        var x = Random(rnd, 70_001, 30f);
        x[0] = -100f;
        x[1] = 100f;
        var r = (float[])x.Clone();
        Activations.Relu(r);
        for (int i = 0; i < x.Length; i++) Assert.Equal(Math.Max(x[i], 0f), r[i]);
        var s = (float[])x.Clone();
        Activations.Sigmoid(s);
        var expected = x.Select(v => 1 / (1 + Math.Exp(-(double)v))).ToArray();
        AssertClose(s, expected, expected.Select(v => Math.Abs(v)).ToArray(), 1e-6, "sigmoid");
    }
}
