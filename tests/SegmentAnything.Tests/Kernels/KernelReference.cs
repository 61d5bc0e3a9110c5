namespace SegmentAnything.Tests.Kernels;

/// <summary>Random inputs and plain double-precision reference computations for kernel tests.</summary>
internal static class KernelReference
{
    public static float[] Random(Random rnd, int length, float scale = 1f)
    {
        var x = new float[length];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rnd.NextDouble() * 2 - 1) * scale;
        return x;
    }

    /// <summary>
    /// Checks |actual - expected| ≤ tol · magnitude element-wise, where magnitude is a per-element error
    /// scale (e.g. Σ|a||b| for a dot product) so sums with cancellation are judged fairly.
    /// </summary>
    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, ReadOnlySpan<double> magnitude,
        double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double err = Math.Abs(actual[i] - expected[i]);
            if (!(err <= tol * magnitude[i] + 1e-30))
                Assert.Fail($"{what}: element {i} is {actual[i]}, expected {expected[i]} (error {err:E2}, scale {magnitude[i]:E2}).");
        }
    }

    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double relTol, string what)
    {
        var mag = new double[expected.Length];
        for (int i = 0; i < mag.Length; i++) mag[i] = Math.Max(Math.Abs(expected[i]), 1e-3);
        AssertClose(actual, expected, mag, relTol, what);
    }
}
