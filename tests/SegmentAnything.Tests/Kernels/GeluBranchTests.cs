using SegmentAnything.Kernels;

namespace SegmentAnything.Tests.Kernels;

/// <summary>The vector GELU takes a shortcut when every lane is in the polynomial range; whichever path a
/// vector takes, each lane must get the scalar twin's bits and the exact value.</summary>
public class GeluBranchTests
{
    [Theory]
    [InlineData(1.4f, -1)]   // every vector small
    [InlineData(1.4f, 37)]   // one large lane in one vector
    [InlineData(9f, -1)]     // mostly mixed vectors
    [InlineData(1.4f, 100)]  // a large lane in the 256-bit tail
    public void EveryPathMatchesScalarAndReference(float range, int bigAt)
    {
        var rnd = new Random(7);
        var x = Enumerable.Range(0, 120).Select(_ => (float)((rnd.NextDouble() * 2 - 1) * range)).ToArray();
        if (bigAt >= 0) x[bigAt] = -3.1f;
        var y = (float[])x.Clone();
        Activations.Gelu(y);
        for (int i = 0; i < x.Length; i++)
        {
            var one = new[] { x[i] };
            Activations.Gelu(one);
            Assert.Equal(one[0], y[i]);
            double v = x[i], expected = 0.5 * v * (1 + MathExtra.Erf(v / Math.Sqrt(2)));
            Assert.True(Math.Abs(y[i] - expected) <= 1e-6 * Math.Abs(expected) + 1.5e-8 * Math.Abs(v), $"gelu({x[i]}) = {y[i]}, expected {expected}");
        }
    }
}
