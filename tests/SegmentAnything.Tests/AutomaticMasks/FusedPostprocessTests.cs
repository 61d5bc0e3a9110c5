using SegmentAnything.AutomaticMasks;
using SegmentAnything.Imaging;
using Xunit;

namespace SegmentAnything.Tests.AutomaticMasks;

/// <summary>
/// The generator's streaming post-processing (upsampling row by row into packed bits) against the
/// materialised path it replaces: full-size logits, stability score, threshold, box, uncrop, RLE. Every
/// result must be identical, not merely close.
/// </summary>
public class FusedPostprocessTests
{
    /// <summary>Smooth random logits with sign changes, exact zeros, ±offset values and NaNs sprinkled in.</summary>
    private static float[] Logits(Random rng, int h, int w, float bias)
    {
        var a = new float[h * w];
        double fx = rng.NextDouble() * 0.5, fy = rng.NextDouble() * 0.5, px = rng.NextDouble() * 6;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                a[y * w + x] = (float)(4 * Math.Sin(fx * x + px) * Math.Cos(fy * y) + bias + rng.NextDouble() - 0.5);
        for (int i = 0; i < a.Length / 50; i++) a[rng.Next(a.Length)] = rng.Next(4) switch { 0 => 0f, 1 => 1f, 2 => -1f, _ => float.NaN };
        return a;
    }

    public static TheoryData<int, int, int, int, int, int, int, int, int, bool> Cases => new()
    {
        // lowH, lowW, imgSize, inH, inW, H, W, crop x0, y0 (image = crop + margins), inclusive
        { 16, 16, 64, 64, 43, 71, 47, 0, 0, false },
        { 16, 16, 64, 37, 64, 50, 87, 5, 0, false },
        { 16, 16, 64, 64, 64, 64, 64, 0, 9, true },
        { 8, 8, 32, 32, 21, 20, 13, 3, 4, false }, // downsampling in the second stage
        { 16, 16, 64, 64, 50, 129, 103, 0, 0, true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void StreamingReductionEqualsTheMaterialisedPath(int lowH, int lowW, int imgSize, int inH, int inW, int h, int w, int cx, int cy, bool inclusive)
    {
        var rng = new Random(lowH * 1000 + h * 7 + w + cx + cy);
        var ws = new MaskWorkspace();
        foreach ((int marginRight, int marginBottom) in new[] { (0, 0), (6, 0), (0, 5), (3, 2) })
        {
            int imageW = cx + w + marginRight, imageH = cy + h + marginBottom;
            var crop = new BoxXyxy(cx, cy, cx + w, cy + h);
            foreach (float bias in new[] { -6f, 0f, 1.5f, 9f })
            {
                float[] low = Logits(rng, lowH, lowW, bias);
                float[] full = MaskPostprocessing.Postprocess(low, 1, lowH, lowW, imgSize, (inH, inW), (h, w));
                var mask = new bool[full.Length];
                for (int i = 0; i < mask.Length; i++) mask[i] = inclusive ? full[i] >= 0f : full[i] > 0f;
                var (bx0, by0, bx1, by1) = MaskStats.BoundingBoxXyxy(mask, h, w);
                var rle = MaskRle.ToCocoRle(AmgGeometry.UncropMask(mask, crop, imageH, imageW), imageH, imageW);
                float stability = AmgGeometry.StabilityScore(full, 0f, 1f);

                ws.AnalyzeSam(low, lowH, lowW, imgSize, (inH, inW), (h, w), 1f, -1f, inclusive);
                AssertSame(ws.Bits, stability, new BoxXyxy(bx0, by0, bx1, by1), rle, crop, imageH, imageW);
                ws.AnalyzePlane(full, h, w, 1f, -1f, inclusive);
                AssertSame(ws.Bits, stability, new BoxXyxy(bx0, by0, bx1, by1), rle, crop, imageH, imageW);
            }
        }
    }

    private static void AssertSame(MaskBits bits, float stability, BoxXyxy box, CocoRle rle, BoxXyxy crop, int imageH, int imageW)
    {
        Assert.Equal(BitConverter.SingleToInt32Bits(stability), BitConverter.SingleToInt32Bits(bits.StabilityScore));
        Assert.Equal(box, bits.Box());
        var mine = bits.ToCocoRle(crop, imageH, imageW);
        Assert.Equal((rle.Height, rle.Width), (mine.Height, mine.Width));
        Assert.Equal(rle.Counts, mine.Counts);
    }

    [Fact]
    public void EmptyAndFullMasksAtImageCorners()
    {
        var ws = new MaskWorkspace();
        foreach (float value in new[] { -5f, 5f })
            foreach (var (crop, imageH, imageW) in new[] { (new BoxXyxy(0, 0, 7, 5), 5, 7), (new BoxXyxy(2, 3, 9, 8), 8, 9), (new BoxXyxy(0, 0, 7, 5), 9, 12), (new BoxXyxy(1, 0, 8, 5), 9, 8) })
            {
                var plane = Enumerable.Repeat(value, 35).ToArray();
                ws.AnalyzePlane(plane, 5, 7, 1f, -1f, false);
                var mask = plane.Select(v => v > 0).ToArray();
                var expected = MaskRle.ToCocoRle(AmgGeometry.UncropMask(mask, crop, imageH, imageW), imageH, imageW);
                Assert.Equal(expected.Counts, ws.Bits.ToCocoRle(crop, imageH, imageW).Counts);
            }
    }
}
