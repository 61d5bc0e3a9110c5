using SegmentAnything.Kernels;

namespace SegmentAnything.Tests.Kernels;

public class ErfTests
{
    // Values from CPython's math.erf (libm), one per branch of Cody's approximation and both signs.
    [Theory]
    [InlineData(0.1, 0.1124629160182849)]
    [InlineData(0.3, 0.3286267594591274)]
    [InlineData(0.7, 0.6778011938374184)]
    [InlineData(1.5, 0.9661051464753108)]
    [InlineData(2.5, 0.999593047982555)]
    [InlineData(3.9, 0.9999999652077514)]
    [InlineData(4.5, 0.9999999998033839)]
    [InlineData(-1.2, -0.9103139782296353)]
    public void MatchesLibm(double x, double expected) =>
        Assert.Equal(expected, MathExtra.Erf(x), 1e-15);
}
