using SegmentAnything.Modeling;
using SegmentAnything.Tensors;
using SegmentAnything.Tests.Api;
using SegmentAnything.Tests.ModelParity;
using SegmentAnything.Tests.Support;
using Xunit.Abstractions;

namespace SegmentAnything.Tests.Modeling;

/// <summary>
/// The first upscaling product reassociated through the image-token LayerNorms (per-image product plus
/// low-rank per-prompt terms) must give the logits and IoUs of the direct product on the same prompts,
/// for the fixture embeddings and for random ones whose tokens have a large common offset (the case where
/// subtracting the mean after the product could cancel).
/// </summary>
[Collection(nameof(AllocationMeasurements))]
public class DecoderKeyFactorTests(ITestOutputHelper output)
{
    [SkippableTheory]
    [InlineData("sam_vit_mini_random", 0f)]
    [InlineData("mobile_sam_random", 0f)]
    [InlineData("sam_vit_shapes", 0f)]
    [InlineData("mobile_sam_random", 3f)]
    public void FactoredFirstProductMatchesTheDirectOne(string name, float offset)
    {
        var reference = Fixtures.Reference(name);
        var predictor = new SamPredictor(SamParityTests.Model(name));
        var emb = reference["embedding"];
        float[] data = (float[])emb.Floats.Clone();
        if (offset != 0)
        {
            // Random tokens with a common offset of several standard deviations.
            var rng = new Random(7);
            double sd = Math.Sqrt(data.Select(v => (double)v * v).Average());
            for (int i = 0; i < data.Length; i++) data[i] = (float)((offset + rng.NextDouble() * 2 - 1) * sd);
        }
        predictor.SetEmbedding(new ImageEmbedding(new Tensor(data, emb.Shape[1..]),
            SamParityTests.Hw(reference, "image_hw"), SamParityTests.Hw(reference, "input_hw"), null));
        var (h, w) = predictor.Embedding.OriginalSize;
        var points = new double[2 * 16];
        var prng = new Random(3);
        for (int i = 0; i < 16; i++) (points[2 * i], points[2 * i + 1]) = (prng.NextDouble() * w, prng.NextDouble() * h);
        PointBatchPrediction direct, factored;
        try
        {
            // Only the first upscaling product is compared here: the later attentions stay on the packed image tokens
            // (their factored form, which changes the IoUs by rounding, is covered by FactoredAttentionTests).
            TwoWayTransformer.UseFactoredAttention = false;
            MaskDecoder.UseKeyFactors = false;
            direct = predictor.PredictPoints(points);
            MaskDecoder.UseKeyFactors = true;
            factored = predictor.PredictPoints(points);
        }
        finally
        {
            MaskDecoder.UseKeyFactors = true;
            TwoWayTransformer.UseFactoredAttention = true;
        }
        double lowErr = Parity.RelativeL2(factored.LowResLogits, direct.LowResLogits);
        double iouErr = Parity.RelativeL2(factored.Iou, direct.Iou);
        float scale = direct.LowResLogits.Max(MathF.Abs), maxDiff = 0;
        for (int i = 0; i < direct.LowResLogits.Length; i++) maxDiff = Math.Max(maxDiff, Math.Abs(direct.LowResLogits[i] - factored.LowResLogits[i]));
        output.WriteLine($"{name} offset {offset}: logits rel L2 {lowErr:E2}, max |diff| / max |logit| {maxDiff / scale:E2}, IoU rel L2 {iouErr:E2}");
        Assert.Equal(direct.Iou, factored.Iou);
        Assert.True(lowErr < 1e-5, $"factored logits differ: rel L2 {lowErr:E2}");
    }
}
