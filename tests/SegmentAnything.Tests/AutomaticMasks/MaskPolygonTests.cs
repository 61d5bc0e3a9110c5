using SegmentAnything.AutomaticMasks;
using Xunit;

namespace SegmentAnything.Tests.AutomaticMasks;

/// <summary>Mask outlines: hand-checked rings, and polygons filled back against the mask they came from.</summary>
public class MaskPolygonTests
{
    private static bool[] Parse(params string[] rows)
    {
        var mask = new bool[rows.Length * rows[0].Length];
        for (int y = 0; y < rows.Length; y++)
            for (int x = 0; x < rows[0].Length; x++) mask[y * rows[0].Length + x] = rows[y][x] == '1';
        return mask;
    }

    private static void AssertRoundTrip(bool[] mask, int h, int w, List<MaskPolygon> rings)
    {
        Assert.All(rings, r => Assert.True(r.VertexCount >= 3));
        Assert.Equal(mask, MaskPolygons.Fill(rings, h, w));
    }

    [Fact]
    public void SinglePixelIsAUnitSquareOfPixelCorners()
    {
        var mask = Parse("00000", "00000", "00000", "00100", "00000", "00000");
        var rings = MaskPolygons.FromMask(mask, 6, 5);
        var ring = Assert.Single(rings);
        Assert.False(ring.IsHole);
        Assert.Equal([2.0, 3, 2, 4, 3, 4, 3, 3], ring.Points);
        Assert.Equal(-1, ring.SignedArea);
        AssertRoundTrip(mask, 6, 5, rings);
    }

    [Fact]
    public void HoleIsASecondRingOfOppositeOrientation()
    {
        var mask = Parse("11111", "10001", "10001", "11111");
        var rings = MaskPolygons.FromMask(mask, 4, 5);
        Assert.Equal(2, rings.Count);
        Assert.False(rings[0].IsHole);
        Assert.True(rings[1].IsHole);
        Assert.Equal(-20, rings[0].SignedArea);
        Assert.Equal(6, rings[1].SignedArea);
        Assert.Equal(4, rings[0].VertexCount);
        Assert.Equal(4, rings[1].VertexCount);
        AssertRoundTrip(mask, 4, 5, rings);
        var coco = MaskPolygons.ToCoco(rings);
        Assert.Equal([0.0, 0, 0, 4, 5, 4, 5, 0], Assert.Single(coco));
    }

    [Theory]
    [InlineData("10/01")]
    [InlineData("01/10")]
    [InlineData("100/010/001")]
    [InlineData("001/010/100")]
    public void DiagonalNeighboursShareOneRing(string picture)
    {
        string[] rows = picture.Split('/');
        var mask = Parse(rows);
        var rings = MaskPolygons.FromMask(mask, rows.Length, rows[0].Length);
        Assert.False(Assert.Single(rings).IsHole);
        AssertRoundTrip(mask, rows.Length, rows[0].Length, rings);
    }

    [Fact]
    public void BackgroundEnclosedByDiagonalsIsAHole()
    {
        // Set pixels are 8-connected, so the background is 4-connected: the centre cannot leak out.
        var mask = Parse("0110", "1001", "1001", "0110");
        var rings = MaskPolygons.FromMask(mask, 4, 4);
        Assert.Equal(2, rings.Count);
        Assert.Equal(1, rings.Count(r => r.IsHole));
        Assert.Equal(4, rings.Single(r => r.IsHole).SignedArea);
        AssertRoundTrip(mask, 4, 4, rings);
    }

    [Fact]
    public void IslandsAtImageBordersAndCorners()
    {
        var mask = Parse("1000001", "0000000", "1100011", "0000000", "1000001");
        var rings = MaskPolygons.FromMask(mask, 5, 7);
        Assert.Equal(6, rings.Count);
        Assert.All(rings, r => Assert.False(r.IsHole));
        AssertRoundTrip(mask, 5, 7, rings);
        var full = Enumerable.Repeat(true, 12).ToArray();
        var ring = Assert.Single(MaskPolygons.FromMask(full, 3, 4));
        Assert.Equal([0.0, 0, 0, 3, 4, 3, 4, 0], ring.Points);
    }

    [Fact]
    public void EmptyMaskHasNoRings() => Assert.Empty(MaskPolygons.FromMask(new bool[12], 3, 4));

    [Theory]
    [InlineData(1, 0.3)]
    [InlineData(2, 0.5)]
    [InlineData(3, 0.7)]
    [InlineData(4, 0.45)]
    public void RandomMasksRoundTripExactlyWithOneRingPerComponentAndHole(int seed, double density)
    {
        var rng = new Random(seed);
        int h = 23, w = 31;
        var mask = new bool[h * w];
        for (int i = 0; i < mask.Length; i++) mask[i] = rng.NextDouble() < density;
        var rings = MaskPolygons.FromMask(mask, h, w);
        AssertRoundTrip(mask, h, w, rings);
        var (_, sizes) = ConnectedComponents.Label(mask, h, w);
        Assert.Equal(sizes.Length - 1, rings.Count(r => !r.IsHole));
        Assert.Equal(EnclosedBackgroundRegions(mask, h, w), rings.Count(r => r.IsHole));
        // Outer rings enclose their component and its holes; together the signed areas count the set pixels.
        Assert.Equal(-mask.Count(b => b), rings.Sum(r => r.SignedArea));
    }

    /// <summary>4-connected unset regions that do not reach the image border.</summary>
    private static int EnclosedBackgroundRegions(bool[] mask, int h, int w)
    {
        var seen = new bool[mask.Length];
        int count = 0;
        for (int s = 0; s < mask.Length; s++)
        {
            if (mask[s] || seen[s]) continue;
            bool border = false;
            var queue = new Queue<int>([s]);
            seen[s] = true;
            while (queue.Count > 0)
            {
                int p = queue.Dequeue(), x = p % w, y = p / w;
                if (x == 0 || y == 0 || x == w - 1 || y == h - 1) border = true;
                foreach (var (nx, ny) in new[] { (x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1) })
                {
                    if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
                    int q = ny * w + nx;
                    if (mask[q] || seen[q]) continue;
                    seen[q] = true;
                    queue.Enqueue(q);
                }
            }
            if (!border) count++;
        }
        return count;
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(1.0)]
    [InlineData(2.5)]
    public void SimplifiedRingsStayWithinTheTolerance(double tolerance)
    {
        int h = 40, w = 50;
        var mask = new bool[h * w];
        // A disk with a square hole and a one-pixel island: curved edges give the simplification work.
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                double dx = x + 0.5 - 22, dy = y + 0.5 - 20;
                mask[y * w + x] = dx * dx + dy * dy < 17 * 17 && !(x >= 18 && x < 26 && y >= 16 && y < 24);
            }
        mask[2 * w + 47] = true;
        var exact = MaskPolygons.FromMask(mask, h, w);
        var simple = MaskPolygons.FromMask(mask, h, w, tolerance);
        Assert.All(simple, r => Assert.True(r.VertexCount >= 3));
        Assert.True(simple.Sum(r => r.VertexCount) < exact.Sum(r => r.VertexCount));
        Assert.Contains(simple, r => r.IsHole);
        var filled = MaskPolygons.Fill(simple, h, w);
        int differing = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                if (filled[y * w + x] == mask[y * w + x]) continue;
                differing++;
                // Every vertex is within the tolerance of the simplified ring, so a pixel centre between
                // the two outlines is within twice the tolerance of the exact one.
                Assert.True(DistanceToRings(x + 0.5, y + 0.5, exact) <= 2 * tolerance, $"pixel ({x}, {y}) changed far from the outline");
            }
        Assert.True(differing < mask.Count(b => b) / 10);
    }

    private static double DistanceToRings(double px, double py, List<MaskPolygon> rings)
    {
        double best = double.MaxValue;
        foreach (var r in rings)
            for (int i = 0; i < r.VertexCount; i++)
            {
                int j = (i + 1) % r.VertexCount;
                double ax = r.Points[2 * i], ay = r.Points[2 * i + 1], bx = r.Points[2 * j], by = r.Points[2 * j + 1];
                double dx = bx - ax, dy = by - ay;
                double t = Math.Clamp(((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy), 0, 1);
                best = Math.Min(best, Math.Sqrt(Math.Pow(ax + t * dx - px, 2) + Math.Pow(ay + t * dy - py, 2)));
            }
        return best;
    }

    [Fact]
    public void LargeToleranceDropsRingsInsteadOfDegenerating()
    {
        var mask = Parse("0000000", "0100000", "0000000", "0000000", "0011110", "0011110", "0000000");
        var rings = MaskPolygons.FromMask(mask, 7, 7, tolerance: 5);
        Assert.All(rings, r => Assert.True(r.VertexCount >= 3));
    }

    [Fact]
    public void InvalidInputIsRejected()
    {
        Assert.Throws<ArgumentException>(() => MaskPolygons.FromMask(new bool[5], 2, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => MaskPolygons.FromMask(new bool[6], 2, 3, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => MaskPolygons.FromMask(new bool[6], 2, 3, double.NaN));
        Assert.Throws<ArgumentException>(() => MaskPolygons.Fill([new double[] { 1, 2, 3 }], 2, 3));
    }
}
