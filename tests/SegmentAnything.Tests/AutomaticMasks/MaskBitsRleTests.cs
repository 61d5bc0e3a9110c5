using SegmentAnything.AutomaticMasks;
using SegmentAnything.Imaging;
using Xunit;

namespace SegmentAnything.Tests.AutomaticMasks;

/// <summary>
/// The packed-bit RLE (transpose, vector-compressed change positions, differences) against the plain
/// column walk of <see cref="MaskRle.ToCocoRle"/> on the uncropped mask: noise of every density, stripes,
/// empty and full masks, odd sizes around the 64-bit word edges, crops touching each image border, on
/// every vector width this machine runs, one workspace reused across sizes.
/// </summary>
public class MaskBitsRleTests
{
    private static readonly int[] Widths = new[] { 512, 256, 0 }.Where(b => b <= SamUpsamplePlan.VectorBits).ToArray();

    private static bool[] Pattern(Random rng, int kind, int h, int w)
    {
        var m = new bool[h * w];
        double p = rng.NextDouble();
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                m[y * w + x] = kind switch
                {
                    0 => rng.NextDouble() < p, // noise: up to one change per pixel
                    1 => false,
                    2 => true,
                    3 => ((x / 3) + (y / 5)) % 2 == 0, // blocks that straddle words
                    4 => (x - w / 2) * (x - w / 2) + (y - h / 2) * (y - h / 2) < h * w / 5, // one blob touching or not the borders
                    _ => (y & 1) == 0, // a change at every row: the densest column runs
                };
        return m;
    }

    public static TheoryData<int, int> Sizes => new() { { 1, 1 }, { 5, 7 }, { 63, 65 }, { 64, 64 }, { 65, 63 }, { 130, 129 }, { 200, 71 }, { 37, 257 } };

    [Theory]
    [MemberData(nameof(Sizes))]
    public void PackedRleEqualsTheColumnWalk(int h, int w)
    {
        var rng = new Random(h * 1000 + w);
        var ws = new MaskWorkspace();
        int saved = SamUpsamplePlan.VectorBits;
        try
        {
            for (int kind = 0; kind < 6; kind++)
            {
                bool[] mask = Pattern(rng, kind, h, w);
                float[] plane = mask.Select(b => b ? 3f : -3f).ToArray();
                foreach (var (x0, y0, right, bottom) in new[] { (0, 0, 0, 0), (3, 0, 0, 2), (0, 5, 4, 0), (2, 1, 3, 7) })
                {
                    int imageW = x0 + w + right, imageH = y0 + h + bottom;
                    var crop = new BoxXyxy(x0, y0, x0 + w, y0 + h);
                    var expected = MaskRle.ToCocoRle(AmgGeometry.UncropMask(mask, crop, imageH, imageW), imageH, imageW);
                    foreach (int bits in Widths)
                    {
                        SamUpsamplePlan.VectorBits = bits;
                        ws.AnalyzePlane(plane, h, w, 1f, -1f, inclusive: false);
                        var got = ws.Bits.ToCocoRle(crop, imageH, imageW);
                        Assert.Equal((imageH, imageW), (got.Height, got.Width));
                        Assert.True(expected.Counts.AsSpan().SequenceEqual(got.Counts), $"kind {kind}, crop {crop} in {imageW}x{imageH}, {bits}-bit path");
                        Assert.Equal(expected.Area, ws.Bits.Area());
                    }
                }
            }
        }
        finally { SamUpsamplePlan.VectorBits = saved; }
    }
}
