using SegmentAnything.Modeling;
using SegmentAnything.Tensors;
using SegmentAnything.Tests.Api;
using SegmentAnything.Tests.ModelParity;
using SegmentAnything.Tests.Support;
using Xunit.Abstractions;

namespace SegmentAnything.Tests.Modeling;

/// <summary>
/// The decoder's later attentions run on the factored image tokens (per-image projections plus low-rank
/// per-prompt terms, nothing materialised per prompt) must give the logits and IoUs of the attentions over each
/// prompt's own image tokens and of the fully direct path, for single prompts and ragged batches, on the fixture
/// embeddings and on random ones with a large common offset (where the LayerNorm's mean removal could cancel).
/// </summary>
[Collection(nameof(AllocationMeasurements))]
public class FactoredAttentionTests(ITestOutputHelper output)
{
    [SkippableTheory]
    [InlineData("sam_vit_mini_random", 0f, 11)]
    [InlineData("mobile_sam_random", 0f, 1)]
    [InlineData("mobile_sam_random", 0f, 11)]
    [InlineData("sam_vit_shapes", 0f, 9)]
    [InlineData("mobile_sam_random", 3f, 11)]
    public void FactoredAttentionsMatchTheDirectOnes(string name, float offset, int count)
    {
        var reference = Fixtures.Reference(name);
        var predictor = new SamPredictor(SamParityTests.Model(name));
        var emb = reference["embedding"];
        float[] data = (float[])emb.Floats.Clone();
        if (offset != 0)
        {
            var rng = new Random(11);
            double sd = Math.Sqrt(data.Select(v => (double)v * v).Average());
            for (int i = 0; i < data.Length; i++) data[i] = (float)((offset + rng.NextDouble() * 2 - 1) * sd);
        }
        predictor.SetEmbedding(new ImageEmbedding(new Tensor(data, emb.Shape[1..]),
            SamParityTests.Hw(reference, "image_hw"), SamParityTests.Hw(reference, "input_hw"), null));
        var (h, w) = predictor.Embedding.OriginalSize;
        var points = new double[2 * count];
        var prng = new Random(5);
        for (int i = 0; i < count; i++) (points[2 * i], points[2 * i + 1]) = (prng.NextDouble() * w, prng.NextDouble() * h);
        PointBatchPrediction direct, packed, factored;
        try
        {
            MaskDecoder.UseKeyFactors = false;
            direct = predictor.PredictPoints(points);
            MaskDecoder.UseKeyFactors = true;
            TwoWayTransformer.UseFactoredAttention = false;
            packed = predictor.PredictPoints(points);
            TwoWayTransformer.UseFactoredAttention = true;
            factored = predictor.PredictPoints(points);
        }
        finally
        {
            MaskDecoder.UseKeyFactors = true;
            TwoWayTransformer.UseFactoredAttention = true;
        }
        foreach (var (label, other) in new[] { ("direct", direct), ("packed", packed) })
        {
            double lowErr = Parity.RelativeL2(factored.LowResLogits, other.LowResLogits);
            double iouErr = Parity.RelativeL2(factored.Iou, other.Iou);
            output.WriteLine($"{name} offset {offset} x{count} vs {label}: logits rel L2 {lowErr:E2}, IoU rel L2 {iouErr:E2}");
            Assert.True(lowErr < 1e-5, $"factored logits differ from {label}: rel L2 {lowErr:E2}");
            Assert.True(iouErr < 1e-5, $"factored IoUs differ from {label}: rel L2 {iouErr:E2}");
        }
    }
}
