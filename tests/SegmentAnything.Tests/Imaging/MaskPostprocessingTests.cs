using SegmentAnything.Checkpoints;
using SegmentAnything.Imaging;
using SegmentAnything.Tests.Support;
using Xunit.Abstractions;

namespace SegmentAnything.Tests.Imaging;

public class MaskPostprocessingTests(ITestOutputHelper output)
{
    [SkippableTheory]
    [InlineData("sam_vit_mini_random", 1024)]
    [InlineData("mobile_sam_random", 1024)]
    [InlineData("sam_vit_shapes", 256)]
    public void UpsampledSamLogitsGiveOfficialMasks(string model, int imgSize)
    {
        var reference = Fixtures.Reference(model);
        var input = reference["input_hw"].Integers!;
        var original = reference["image_hw"].Integers!;
        int cases = 0;
        foreach (var name in reference.Tensors.Keys.Where(k => k.EndsWith(".low_res_logits")).Order())
        {
            string c = name[..^".low_res_logits".Length];
            var low = reference[name];
            int count = low.Shape[0] * low.Shape[1], lowH = low.Shape[2], lowW = low.Shape[3];
            var logits = MaskPostprocessing.Postprocess(low.Floats, count, lowH, lowW, imgSize,
                ((int)input[0], (int)input[1]), ((int)original[0], (int)original[1]));
            Assert.Equal(count * original[0] * original[1], logits.Length);
            var masks = MaskPostprocessing.Threshold(logits);
            CompareMasks(reference, c, masks, $"{model}/{c}");
            cases++;
        }
        Assert.True(cases >= 3);
    }

    [SkippableFact]
    public void EfficientSamBicubicUpsamplingGivesOfficialMasks()
    {
        var reference = Fixtures.Reference("efficient_sam_vitt_random");
        var original = reference["image_hw"].Integers!;
        int h = (int)original[0], w = (int)original[1];
        foreach (var name in reference.Tensors.Keys.Where(k => k.EndsWith(".low_res_logits")).Order())
        {
            string c = name[..^".low_res_logits".Length];
            var low = reference[name];
            int count = low.Shape[0] * low.Shape[1] * low.Shape[2];
            var up = TorchResize.Bicubic(low.Floats, count, low.Shape[3], low.Shape[4], h, w);
            // EfficientSAM keeps logits >= 0.
            var masks = up.Select(v => v >= 0).ToArray();
            CompareMasks(reference, c, masks, $"efficient_sam/{c}");
        }
    }

    [Fact]
    public void CropsPaddingBeforeUpsampling()
    {
        // A logit map that is positive only in the padded right half must vanish after the crop.
        int s = 8;
        var low = new float[s * s];
        for (int y = 0; y < s; y++)
            for (int x = 0; x < s; x++) low[y * s + x] = x >= 4 ? 5f : -5f;
        var up = MaskPostprocessing.Postprocess(low, 1, s, s, 32, (32, 12), (20, 30));
        Assert.Equal(20 * 30, up.Length);
        Assert.All(up, v => Assert.True(v < 0));
        Assert.Throws<ArgumentException>(() => MaskPostprocessing.Postprocess(low, 1, s, s, 32, (33, 12), (20, 30)));
        Assert.Throws<ArgumentException>(() => MaskPostprocessing.Postprocess(low, 2, s, s, 32, (32, 12), (20, 30)));
    }

    [Fact]
    public void ThresholdIsStrictlyAboveZero()
    {
        Assert.Equal(new[] { false, false, true }, MaskPostprocessing.Threshold([-1f, 0f, 1e-7f]));
    }

    private void CompareMasks(SafeTensorsFile reference, string c, bool[] masks, string what)
    {
        var packed = reference[c + ".masks"];
        var expected = Parity.UnpackBits(packed, masks.Length);
        var nearZero = Parity.UnpackBits(reference[c + ".near_zero"], masks.Length);
        int mismatches = 0, ambiguousFlips = 0;
        for (int i = 0; i < masks.Length; i++)
        {
            if (masks[i] == expected[i]) continue;
            if (nearZero[i]) ambiguousFlips++;
            else mismatches++;
        }
        output.WriteLine($"{what}: {masks.Length} pixels, {mismatches} mismatches, {ambiguousFlips} flips within 1e-3 of zero, {expected.Count(b => b)} set");
        Assert.Equal(0, mismatches);
    }
}
