using SegmentAnything.Imaging;
using SegmentAnything.Modeling;
using SegmentAnything.Tests.Support;
using SegmentAnything.Tensors;

namespace SegmentAnything.Tests.Api;

/// <summary>A predictor's full-size logits are computed on demand; masks come without them and must be the same bits.</summary>
public class LazyMaskResultTests
{
    private static bool[] Threshold(ReadOnlySpan<float> logits, bool inclusive)
    {
        var m = new bool[logits.Length];
        for (int i = 0; i < m.Length; i++) m[i] = inclusive ? logits[i] >= 0f : logits[i] > 0f;
        return m;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void VectorThresholdMatchesScalar(bool inclusive)
    {
        var rng = new Random(3);
        for (int n = 0; n < 100; n++)
        {
            var v = new float[n];
            for (int i = 0; i < n; i++) v[i] = (rng.Next(6)) switch { 0 => 0f, 1 => -0f, 2 => float.NaN, _ => (float)(rng.NextDouble() - 0.5) };
            var got = new bool[n + 3];
            MaskThresholding.Threshold(v, got, inclusive);
            Assert.Equal(Threshold(v, inclusive), got[..n]);
            Assert.All(got[n..], b => Assert.False(b));
            // Only 0 and 1 bytes: a bool made of another byte would compare unequal to true.
            Assert.All(got, b => Assert.True(System.Runtime.CompilerServices.Unsafe.As<bool, byte>(ref b) <= 1));
        }
    }

    [SkippableFact]
    public void SamMasksWithoutLogitsEqualThresholdedEagerLogits()
    {
        var model = SamModel.Load(Fixtures.Path_("models/sam_vit_shapes.pt"));
        var p = new SamPredictor(model);
        var emb = Fixtures.Reference("sam_vit_shapes")["embedding"];
        (int H, int W) original = (361, 479);
        p.SetEmbedding(new ImageEmbedding(new Tensor(emb.Floats, emb.Shape[1..]), original, (0, 0), null));
        foreach (var prompt in new[] { Prompt.FromPoint(200, 150), Prompt.FromBox(40, 30, 300, 250) })
            foreach (bool multimask in new[] { true, false })
            {
                var result = p.Predict(prompt, multimask);
                Assert.False(result.HasMaterializedLogits);
                var masks = Enumerable.Range(0, result.Count).Select(result.Mask).ToArray();
                Assert.False(result.HasMaterializedLogits);

                float[] eager = MaskPostprocessing.Postprocess(result.LowResLogits, result.Count, result.LowResHeight, result.LowResWidth,
                    model.ImageEncoder.ImageSize, p.Embedding.InputSize, original);
                Assert.Equal(eager, result.Logits);
                Assert.True(result.HasMaterializedLogits);
                int plane = original.H * original.W;
                for (int i = 0; i < result.Count; i++)
                {
                    bool[] want = Threshold(eager.AsSpan(i * plane, plane), inclusive: false);
                    Assert.Equal(want, masks[i]);
                    Assert.Equal(want, result.Mask(i));
                    Assert.Contains(true, want.Concat([false]).Distinct());
                }
            }
    }

    [SkippableFact]
    public void EfficientSamMasksWithoutLogitsEqualTheModelsUpsampling()
    {
        var model = SamModel.Load(Fixtures.Path_("models/efficient_sam_vitt_random.pt"));
        var efficient = model.EfficientSam!;
        var p = new SamPredictor(model);
        var rng = new Random(5);
        var data = new float[256 * 64 * 64];
        for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
        var embedding = new Tensor(data, 256, 64, 64);
        (int H, int W) original = (301, 457);
        p.SetEmbedding(new ImageEmbedding(embedding, original, (1024, 1024), null));

        var prompts = new[] { Prompt.FromPoint(100, 50), Prompt.FromBox(20, 30, 400, 250) };
        var results = p.PredictBatch(prompts, multimask: true);
        var single = p.Predict(prompts[1], multimask: false);

        // The official path: all queries decoded together, every plane upsampled at once.
        var points = new float[2, 2, 2] { { { 100, 50 }, { -1, -1 } }, { { 20, 30 }, { 400, 250 } } };
        var labels = new int[2, 2] { { 1, -1 }, { 2, 3 } };
        var pred = efficient.Predict(embedding, points, labels, original);
        float[] up = pred.UpscaledLogits().Data;
        int plane = original.H * original.W, m = pred.MasksPerQuery;
        for (int q = 0; q < 2; q++)
        {
            var r = results[q];
            Assert.True(r.InclusiveThreshold);
            var masks = Enumerable.Range(0, r.Count).Select(r.Mask).ToArray();
            Assert.False(r.HasMaterializedLogits);
            Assert.Equal(up.AsSpan(q * m * plane, m * plane).ToArray(), r.Logits);
            for (int i = 0; i < m; i++)
                Assert.Equal(Threshold(up.AsSpan((q * m + i) * plane, plane), inclusive: true), masks[i]);
        }
        int best = results[1].BestIndex();
        Assert.Equal(results[1].Mask(best), single.Mask(0));
        Assert.Equal(up.AsSpan((m + best) * plane, plane).ToArray(), single.Logits);
    }

    [SkippableFact]
    public void MaskIntoChecksItsArguments()
    {
        var model = SamModel.Load(Fixtures.Path_("models/sam_vit_shapes.pt"));
        var p = new SamPredictor(model);
        var emb = Fixtures.Reference("sam_vit_shapes")["embedding"];
        p.SetEmbedding(new ImageEmbedding(new Tensor(emb.Floats, emb.Shape[1..]), (360, 480), (192, 256), null));
        var r = p.Predict(Prompt.FromPoint(10, 10));
        Assert.Throws<ArgumentException>(() => r.MaskInto(0, new bool[100]));
        Assert.Throws<ArgumentOutOfRangeException>(() => r.MaskInto(r.Count, new bool[360 * 480]));
    }
}
