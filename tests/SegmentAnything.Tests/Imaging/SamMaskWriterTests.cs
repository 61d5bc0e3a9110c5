using SegmentAnything.Imaging;

namespace SegmentAnything.Tests.Imaging;

/// <summary>
/// Masks thresholded inside the upsampling's vertical pass (<see cref="SamMaskWriter"/>, what
/// <see cref="MaskResult.MaskInto"/> uses for SAM) must equal thresholding the materialised logits of
/// <see cref="MaskPostprocessing.Postprocess"/>, for every mask of a batch, both thresholds, every vector
/// width this machine runs, and sizes that are not multiples of the vector widths.
/// </summary>
public class SamMaskWriterTests
{
    private static readonly int[] Widths = new[] { 512, 256, 0 }.Where(b => b <= SamUpsamplePlan.VectorBits).ToArray();

    public static TheoryData<int, int, int, int, int, int, int> Geometries => new()
    {
        // lowH, lowW, imgSize, inH, inW, original (H, W).
        { 64, 64, 256, 171, 256, 300, 450 },
        { 64, 64, 256, 256, 171, 451, 301 },
        { 32, 32, 128, 128, 85, 37, 23 },
        { 16, 16, 64, 64, 43, 1, 1 },
        { 16, 16, 64, 43, 64, 130, 7 },
        { 64, 64, 256, 171, 256, 1200, 1800 },
    };

    [Theory]
    [MemberData(nameof(Geometries))]
    public void MasksEqualThresholdedLogits(int lowH, int lowW, int imgSize, int inH, int inW, int h, int w)
    {
        var rng = new Random(lowH + 3 * inH + 7 * h + w);
        const int count = 3;
        var low = new float[count * lowH * lowW];
        for (int i = 0; i < low.Length; i++)
            low[i] = (float)(2 * Math.Sin(0.3 * (i % lowW) + 0.1 * (i / lowW)) + rng.NextDouble() - 0.5);
        // Exact zeros where both thresholds must differ, constant across a patch so the upsampled logits are 0 too.
        for (int y = 0; y < lowH / 4; y++)
            for (int x = 0; x < lowW / 4; x++) low[y * lowW + x] = 0f;
        var logits = MaskPostprocessing.Postprocess(low, count, lowH, lowW, imgSize, (inH, inW), (h, w));
        var plan = SamUpsamplePlan.For(lowH, lowW, imgSize, (inH, inW), (h, w));
        int saved = SamUpsamplePlan.VectorBits, plane = h * w;
        try
        {
            foreach (int bits in Widths)
                foreach (bool inclusive in new[] { false, true })
                    for (int m = 0; m < count; m++)
                    {
                        SamUpsamplePlan.VectorBits = bits;
                        var mask = Enumerable.Repeat(true, plane + 5).ToArray();
                        SamMaskWriter.Write(low, m, plan, mask, inclusive);
                        var expected = new bool[plane];
                        MaskThresholding.Threshold(logits.AsSpan(m * plane, plane), expected, inclusive);
                        Assert.True(expected.AsSpan().SequenceEqual(mask.AsSpan(0, plane)), $"mask {m}, {bits} bits, inclusive {inclusive}");
                        Assert.All(mask[plane..], Assert.True);
                    }
        }
        finally { SamUpsamplePlan.VectorBits = saved; }
    }

    [Fact]
    public void RefusesMissingPlanesAndShortDestinations()
    {
        var plan = SamUpsamplePlan.For(16, 16, 64, (64, 43), (20, 30));
        var low = new float[2 * 16 * 16];
        Assert.Throws<ArgumentException>(() => SamMaskWriter.Write(low, 2, plan, new bool[600], false));
        Assert.Throws<ArgumentException>(() => SamMaskWriter.Write(low, -1, plan, new bool[600], false));
        Assert.Throws<ArgumentException>(() => SamMaskWriter.Write(low, 0, plan, new bool[599], false));
    }
}
