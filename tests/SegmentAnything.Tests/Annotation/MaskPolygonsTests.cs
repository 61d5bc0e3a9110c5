using SegmentAnything.Server.Annotation;

namespace SegmentAnything.Tests.Annotation;

public class MaskPolygonsTests
{
    private static bool[] Mask(int h, int w, Func<int, int, bool> f)
    {
        var m = new bool[h * w];
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) m[y * w + x] = f(x, y);
        return m;
    }

    private static double ShoelaceArea(double[] ring)
    {
        double s = 0;
        int n = ring.Length / 2;
        for (int i = 0; i < n; i++)
        {
            int j = (i + 1) % n;
            s += ring[2 * i] * ring[2 * j + 1] - ring[2 * j] * ring[2 * i + 1];
        }
        return Math.Abs(s) / 2;
    }

    [Fact]
    public void Rectangle_GivesItsFourCorners()
    {
        var rings = MaskPolygons.Trace(Mask(10, 12, (x, y) => x is >= 2 and < 7 && y is >= 3 and < 9), 10, 12, 0);
        var ring = Assert.Single(rings);
        Assert.Equal(8, ring.Length);
        Assert.Equal(30, ShoelaceArea(ring));
        Assert.Equal([2.0, 7.0], ring.Where((_, i) => i % 2 == 0).Distinct().Order());
        Assert.Equal([3.0, 9.0], ring.Where((_, i) => i % 2 == 1).Distinct().Order());
    }

    [Fact]
    public void ExactTrace_EnclosesExactlyTheMaskArea_ForEveryRegion()
    {
        var rng = new Random(7);
        for (int trial = 0; trial < 20; trial++)
        {
            int h = 30, w = 40;
            // Blobby random shapes: discs at random places, some touching diagonally.
            var discs = Enumerable.Range(0, 4).Select(_ => (X: rng.Next(w), Y: rng.Next(h), R: rng.Next(1, 8))).ToArray();
            var mask = Mask(h, w, (x, y) => discs.Any(d => (x - d.X) * (x - d.X) + (y - d.Y) * (y - d.Y) < d.R * d.R));
            int area = mask.Count(b => b);
            var rings = MaskPolygons.Trace(mask, h, w, 0);
            Assert.All(rings, r => Assert.True(r.Length >= 6 && r.Length % 2 == 0));
            // Discs have no holes, so outer rings add up to the pixel count.
            Assert.Equal(area, rings.Sum(ShoelaceArea), 6);
        }
    }

    [Fact]
    public void Simplification_KeepsAtLeastThreePoints_AndShrinksRings()
    {
        var disc = Mask(100, 100, (x, y) => (x - 50) * (x - 50) + (y - 50) * (y - 50) < 40 * 40);
        var exact = Assert.Single(MaskPolygons.Trace(disc, 100, 100, 0));
        var simple = Assert.Single(MaskPolygons.Trace(disc, 100, 100, 2));
        Assert.True(simple.Length < exact.Length / 3, $"{simple.Length / 2} vs {exact.Length / 2} points");
        Assert.InRange(ShoelaceArea(simple), ShoelaceArea(exact) * 0.95, ShoelaceArea(exact) * 1.05);
        var dot = Assert.Single(MaskPolygons.Trace(Mask(5, 5, (x, y) => x == 2 && y == 2), 5, 5, 10));
        Assert.True(dot.Length >= 6);
    }

    [Fact]
    public void Hole_IsNotEmittedAsAPolygon()
    {
        var ring = Mask(20, 20, (x, y) => x is >= 2 and < 18 && y is >= 2 and < 18 && !(x is >= 6 and < 14 && y is >= 6 and < 14));
        var rings = MaskPolygons.Trace(ring, 20, 20, 0);
        Assert.Equal(256, ShoelaceArea(Assert.Single(rings)));
    }
}
