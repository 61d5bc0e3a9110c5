using SegmentAnything.AutomaticMasks;
using SegmentAnything.Imaging;
using SegmentAnything.Tests.Support;

namespace SegmentAnything.Tests.Imaging;

/// <summary>
/// The streaming, banded and vectorised upsampling (<see cref="MaskPostprocessing.Postprocess"/> and the
/// generator's fused reduction) against the materialised computation it replaces: bilinear to imgSize²
/// with <see cref="TorchResize"/>, crop, bilinear to the original size. Bit for bit on every vector width
/// this machine runs.
/// </summary>
public class SamUpsamplerTests
{
    private static readonly int[] Widths = new[] { 512, 256, 0 }.Where(b => b <= SamUpsamplePlan.VectorBits).ToArray();

    /// <summary>The reference: two full resizes and a copy of the crop, as the official code materialises them.</summary>
    private static float[] Materialised(float[] low, int count, int lowH, int lowW, int imgSize, (int H, int W) input, (int H, int W) original)
    {
        float[] full = TorchResize.Bilinear(low, count, lowH, lowW, imgSize, imgSize);
        var crop = new float[count * input.H * input.W];
        for (int c = 0; c < count; c++)
            for (int y = 0; y < input.H; y++)
                Array.Copy(full, (c * imgSize + y) * imgSize, crop, (c * input.H + y) * input.W, input.W);
        return TorchResize.Bilinear(crop, count, input.H, input.W, original.H, original.W);
    }

    /// <summary>Smooth random logits with values at and within 1e-6 of 0 and ±1, and a few NaNs and infinities.</summary>
    private static float[] Logits(Random rng, int n, int side, bool special)
    {
        var a = new float[n];
        double f = rng.NextDouble() * 0.6 + 0.1, p = rng.NextDouble() * 6;
        for (int i = 0; i < n; i++)
            a[i] = (float)(3 * Math.Sin(f * (i % side) + p) * Math.Cos(f * 0.7 * (i / side)) + rng.NextDouble() - 0.5);
        float[] near = [0f, -0f, 1e-7f, -1e-7f, 1e-6f, 1f, 1f + 1e-6f, 1f - 1e-6f, -1f, -1f + 1e-6f, -1f - 1e-6f, 1e-40f];
        for (int i = 0; i < n / 10; i++) a[rng.Next(n)] = near[rng.Next(near.Length)];
        if (special)
            for (int i = 0; i < 3; i++) a[rng.Next(n)] = rng.Next(3) switch { 0 => float.NaN, 1 => float.PositiveInfinity, _ => float.NegativeInfinity };
        return a;
    }

    public static TheoryData<int, int, int, int, int, int, int> Geometries => new()
    {
        // lowH, lowW, imgSize, inH, inW, original (H, W): upsampling, downsampling, odd sizes, squares.
        { 64, 64, 256, 171, 256, 300, 450 },
        { 64, 64, 256, 256, 171, 450, 300 },
        { 64, 64, 256, 256, 256, 97, 97 },
        { 32, 32, 128, 128, 85, 37, 23 },
        { 64, 64, 256, 200, 256, 1000, 1280 },
        { 16, 16, 64, 64, 43, 71, 47 },
    };

    [Theory]
    [MemberData(nameof(Geometries))]
    public void PostprocessEqualsTheMaterialisedResizes(int lowH, int lowW, int imgSize, int inH, int inW, int h, int w)
    {
        var rng = new Random(lowH + inH * 3 + h * 7 + w);
        int count = 3;
        var low = Logits(rng, count * lowH * lowW, lowW, special: true);
        var expected = Materialised(low, count, lowH, lowW, imgSize, (inH, inW), (h, w));
        int saved = SamUpsamplePlan.VectorBits;
        try
        {
            foreach (int bits in Widths)
            {
                SamUpsamplePlan.VectorBits = bits;
                var got = MaskPostprocessing.Postprocess(low, count, lowH, lowW, imgSize, (inH, inW), (h, w));
                Assert.Equal(expected.Length, got.Length);
                for (int i = 0; i < got.Length; i++)
                    if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(got[i]) && !(float.IsNaN(expected[i]) && float.IsNaN(got[i])))
                        Assert.Fail($"{bits}-bit path: value {i} is {got[i]:R}, expected {expected[i]:R}.");
            }
        }
        finally { SamUpsamplePlan.VectorBits = saved; }
    }

    [Theory]
    [MemberData(nameof(Geometries))]
    public void FusedReductionEqualsThresholdingTheMaterialisedLogits(int lowH, int lowW, int imgSize, int inH, int inW, int h, int w)
    {
        var rng = new Random(lowW * 5 + inW + h + w * 11);
        var ws = new MaskWorkspace();
        int saved = SamUpsamplePlan.VectorBits;
        try
        {
            foreach (bool inclusive in new[] { false, true })
                foreach (bool special in new[] { false, true })
                {
                    var low = Logits(rng, lowH * lowW, lowW, special);
                    var full = Materialised(low, 1, lowH, lowW, imgSize, (inH, inW), (h, w));
                    var mask = full.Select(v => inclusive ? v >= 0f : v > 0f).ToArray();
                    long high = full.Count(v => v > 1f), lowCount = full.Count(v => v > -1f);
                    var (bx0, by0, bx1, by1) = MaskStats.BoundingBoxXyxy(mask, h, w);
                    var crop = new BoxXyxy(2, 0, 2 + w, h);
                    var rle = MaskRle.ToCocoRle(AmgGeometry.UncropMask(mask, crop, h + 3, w + 2), h + 3, w + 2);
                    foreach (int bits in Widths)
                    {
                        SamUpsamplePlan.VectorBits = bits;
                        ws.AnalyzeSam(low, lowH, lowW, imgSize, (inH, inW), (h, w), 1f, -1f, inclusive);
                        Assert.Equal((high, lowCount), (ws.Bits.High, ws.Bits.Low));
                        Assert.Equal(new BoxXyxy(bx0, by0, bx1, by1), ws.Bits.Box());
                        Assert.Equal(rle.Counts, ws.Bits.ToCocoRle(crop, h + 3, w + 2).Counts);
                    }
                }
        }
        finally { SamUpsamplePlan.VectorBits = saved; }
    }

    [Theory]
    [InlineData(683, 1024, 1200, 1800, false)]
    [InlineData(1024, 683, 1024, 683, true)]
    [InlineData(1024, 1024, 333, 333, false)]
    public void BlobsAreMostlyDecidedFromBoundsAndStillExact(int inH, int inW, int h, int w, bool inclusive)
    {
        // Mask-like logits: a few blobs of large magnitude, plateaus just beyond each threshold's margin,
        // and values within 1e-6 of the thresholds, so both decided and interpolated words occur.
        var rng = new Random(inH + w);
        int side = 256;
        var low = new float[side * side];
        var centres = Enumerable.Range(0, 4).Select(_ => (X: rng.Next(side), Y: rng.Next(side), R: 10 + rng.Next(40))).ToArray();
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++)
            {
                double d = centres.Min(c => Math.Sqrt((x - c.X) * (x - c.X) + (y - c.Y) * (y - c.Y)) - c.R);
                low[y * side + x] = (float)Math.Clamp(-d * 0.8, -12, 12);
            }
        float[] plateau = [1f + 2e-5f, -1f - 2e-5f, 2e-5f, -2e-5f, 1f + 1e-6f, 1f - 1e-6f, -1f + 1e-6f, 1e-7f, -1e-7f, 0f];
        for (int i = 0; i < 30; i++)
        {
            int x0 = rng.Next(side - 12), y0 = rng.Next(side - 12);
            float v = plateau[rng.Next(plateau.Length)];
            for (int y = y0; y < y0 + 12; y++)
                for (int x = x0; x < x0 + 12; x++) low[y * side + x] = v;
        }
        var full = Materialised(low, 1, side, side, 1024, (inH, inW), (h, w));
        var mask = full.Select(v => inclusive ? v >= 0f : v > 0f).ToArray();
        var crop = new BoxXyxy(0, 0, w, h);
        var ws = new MaskWorkspace();
        ws.AnalyzeSam(low, side, side, 1024, (inH, inW), (h, w), 1f, -1f, inclusive);
        long words = (long)h * ((w + 63) / 64);
        Assert.InRange(ws.DecidedWords, words / 2, words - 1);
        Assert.Equal((full.LongCount(v => v > 1f), full.LongCount(v => v > -1f)), (ws.Bits.High, ws.Bits.Low));
        var (bx0, by0, bx1, by1) = MaskStats.BoundingBoxXyxy(mask, h, w);
        Assert.Equal(new BoxXyxy(bx0, by0, bx1, by1), ws.Bits.Box());
        Assert.Equal(MaskRle.ToCocoRle(mask, h, w).Counts, ws.Bits.ToCocoRle(crop, h, w).Counts);
    }

    [SkippableFact]
    public void RealDecoderLogitsReduceExactly()
    {
        var reference = Fixtures.Reference("mobile_sam_random");
        var input = reference["input_hw"].Integers!;
        var original = reference["image_hw"].Integers!;
        (int H, int W) inSize = ((int)input[0], (int)input[1]), size = ((int)original[0], (int)original[1]);
        var ws = new MaskWorkspace();
        foreach (var name in reference.Tensors.Keys.Where(k => k.EndsWith(".low_res_logits")).Order().Take(3))
        {
            var t = reference[name];
            int count = t.Shape[0] * t.Shape[1], lowH = t.Shape[2], lowW = t.Shape[3], plane = lowH * lowW;
            var full = Materialised(t.Floats, count, lowH, lowW, 1024, inSize, size);
            for (int k = 0; k < count; k++)
            {
                var logits = full.AsSpan(k * size.H * size.W, size.H * size.W).ToArray();
                var mask = logits.Select(v => v > 0f).ToArray();
                var crop = new BoxXyxy(0, 0, size.W, size.H);
                ws.AnalyzeSam(t.Floats.AsSpan(k * plane, plane), lowH, lowW, 1024, inSize, size, 1f, -1f, false);
                Assert.Equal((logits.LongCount(v => v > 1f), logits.LongCount(v => v > -1f)), (ws.Bits.High, ws.Bits.Low));
                Assert.Equal(MaskRle.ToCocoRle(mask, size.H, size.W).Counts, ws.Bits.ToCocoRle(crop, size.H, size.W).Counts);
            }
        }
    }
}
