using System.Diagnostics;
using SegmentAnything.Checkpoints;
using SegmentAnything.Modeling;
using SegmentAnything.Tests.Support;
using Xunit.Abstractions;

namespace SegmentAnything.Tests.Modeling;

/// <summary>Prompt encoder + mask decoder parity against the official outputs, from the reference embedding.</summary>
public class EfficientSamDecoderTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    [SkippableTheory]
    [InlineData("e0_points")]
    [InlineData("e1_box")]
    [InlineData("e2_queries")]
    [InlineData("e3_many_points")]
    public void LowResLogitsAndIouMatchOfficial(string caseName)
    {
        var reference = EfficientSamTestSupport.Reference;
        var model = EfficientSamTestSupport.Model;
        var (points, labels) = EfficientSamTestSupport.Case(caseName);

        var watch = Stopwatch.StartNew();
        var prediction = model.Predict(EfficientSamTestSupport.ReferenceEmbedding, points, labels, EfficientSamTestSupport.ImageSize);
        watch.Stop();

        var expectedIou = reference[caseName + ".iou"];
        var expectedLogits = reference[caseName + ".low_res_logits"];
        Assert.Equal(expectedIou.Shape.Skip(1), prediction.Iou.Shape);
        Assert.Equal(expectedLogits.Shape.Skip(1), prediction.LowResLogits.Shape);
        double iouError = Parity.RelativeL2(prediction.Iou.Data, expectedIou.Floats);
        double logitError = Parity.RelativeL2(prediction.LowResLogits.Data, expectedLogits.Floats);
        output.WriteLine($"{caseName}: iou rel L2 {iouError:E2}, low-res logits rel L2 {logitError:E2}, decode {watch.ElapsedMilliseconds} ms for {points.GetLength(0)} queries");
        Parity.AssertRelativeL2(prediction.Iou.Data, expectedIou.Floats, Tolerance, caseName + ".iou");
        Parity.AssertRelativeL2(prediction.LowResLogits.Data, expectedLogits.Floats, Tolerance, caseName + ".low_res_logits");
    }

    [SkippableTheory]
    [InlineData("e0_points")]
    [InlineData("e1_box")]
    [InlineData("e2_queries")]
    [InlineData("e3_many_points")]
    public void FinalMasksMatchOfficialAwayFromZero(string caseName)
    {
        var reference = EfficientSamTestSupport.Reference;
        var (points, labels) = EfficientSamTestSupport.Case(caseName);
        var prediction = EfficientSamTestSupport.Model.Predict(EfficientSamTestSupport.ReferenceEmbedding, points, labels,
            EfficientSamTestSupport.ImageSize);

        var watch = Stopwatch.StartNew();
        bool[] masks = prediction.Masks();
        watch.Stop();

        int[] shape = reference[caseName + ".masks.shape"].Integers!.Select(v => (int)v).ToArray();
        int[] expectedShape = [1, prediction.Queries, prediction.MasksPerQuery, prediction.OriginalSize.Height, prediction.OriginalSize.Width];
        Assert.Equal(expectedShape, shape);
        Assert.Equal(masks.Length, shape.Aggregate(1, (a, b) => a * b));
        bool[] expected = Parity.UnpackBits(reference[caseName + ".masks"], masks.Length);
        bool[] nearZero = Parity.UnpackBits(reference[caseName + ".near_zero"], masks.Length);

        int mismatches = 0, excused = 0, positives = 0;
        for (int i = 0; i < masks.Length; i++)
        {
            if (expected[i]) positives++;
            if (masks[i] == expected[i]) continue;
            if (nearZero[i]) excused++; else mismatches++;
        }
        output.WriteLine($"{caseName}: {masks.Length} pixels, {positives} in the official masks, {mismatches} mismatches, {excused} excused (near zero); upsample {watch.ElapsedMilliseconds} ms");
        Assert.Equal(0, mismatches);
    }

    [SkippableFact]
    public void RejectsMalformedPrompts()
    {
        var model = EfficientSamTestSupport.Model;
        var embedding = EfficientSamTestSupport.ReferenceEmbedding;
        var size = EfficientSamTestSupport.ImageSize;
        Assert.Throws<ArgumentException>(() => model.Predict(embedding, new float[1, 2, 2], new int[1, 3], size));
        Assert.Throws<ArgumentException>(() => model.Predict(embedding, new float[1, 1, 2], new int[,] { { 4 } }, size));
        Assert.Throws<ArgumentException>(() => model.Predict(embedding, new float[,,] { { { float.NaN, 1f } } }, new int[,] { { 1 } }, size));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Predict(embedding, new float[1, 1, 2], new int[1, 1], (0, 10)));
        Assert.Throws<ArgumentException>(() => model.Predict(new SegmentAnything.Tensors.Tensor(256, 32, 32), new float[1, 1, 2], new int[1, 1], size));
    }

    [SkippableFact]
    public void LoadInfersVitTinyFromShapes()
    {
        var model = EfficientSamTestSupport.Model;
        Assert.Equal("vit_t", model.Variant);
        var config = model.ImageEncoder.Config;
        Assert.Equal((192, 12, 3, 768, 256, 14, 16), (config.EmbedDim, config.Depth, config.NumHeads, config.MlpHiddenDim, config.NeckDim, config.PretrainGridSize, config.PatchSize));
        Assert.Equal(3, model.MasksPerQuery);
        Assert.Equal(6, model.MaxInputPoints);
    }

    [SkippableFact]
    public void PointsBeyondTheMaximumAreDroppedAndShortQueriesPadded()
    {
        var model = EfficientSamTestSupport.Model;
        var embedding = EfficientSamTestSupport.ReferenceEmbedding;
        var size = EfficientSamTestSupport.ImageSize;
        var (points, labels) = EfficientSamTestSupport.Case("e3_many_points");
        int n = points.GetLength(1), k = model.MaxInputPoints;
        Assert.True(n > k);
        var firstPoints = new float[1, k, 2];
        var firstLabels = new int[1, k];
        for (int i = 0; i < k; i++) (firstPoints[0, i, 0], firstPoints[0, i, 1], firstLabels[0, i]) = (points[0, i, 0], points[0, i, 1], labels[0, i]);
        Assert.Equal(model.Predict(embedding, firstPoints, firstLabels, size).LowResLogits.Data,
            model.Predict(embedding, points, labels, size).LowResLogits.Data);

        var (shortPoints, shortLabels) = EfficientSamTestSupport.Case("e0_points");
        var padded = new float[1, k, 2];
        var paddedLabels = new int[1, k];
        for (int i = 0; i < k; i++)
        {
            bool real = i < shortPoints.GetLength(1);
            (padded[0, i, 0], padded[0, i, 1]) = real ? (shortPoints[0, i, 0], shortPoints[0, i, 1]) : (-1f, -1f);
            paddedLabels[0, i] = real ? shortLabels[0, i] : EfficientSamLabel.Padding;
        }
        Assert.Equal(model.Predict(embedding, padded, paddedLabels, size).LowResLogits.Data,
            model.Predict(embedding, shortPoints, shortLabels, size).LowResLogits.Data);
    }

    [SkippableFact]
    public void LoadNamesMissingAndMisShapedTensors()
    {
        var full = EfficientSamTestSupport.StateDict;
        var tensors = new Dictionary<string, CheckpointTensor>(full.Tensors);
        tensors.Remove("mask_decoder.iou_token.weight");
        Assert.Contains("mask_decoder.iou_token.weight",
            Assert.Throws<CheckpointException>(() => EfficientSam.Load(new StateDict(tensors, "test"))).Message);

        tensors = new Dictionary<string, CheckpointTensor>(full.Tensors)
        {
            ["prompt_encoder.point_embeddings.weight"] = CheckpointTensor.FromFloats(new float[255], 1, 255),
            ["extra.weight"] = CheckpointTensor.FromFloats(new float[1], 1),
        };
        string message = Assert.Throws<CheckpointException>(() => EfficientSam.Load(new StateDict(tensors, "test"))).Message;
        Assert.Contains("prompt_encoder.point_embeddings.weight", message);
        Assert.Contains("extra.weight", message);
    }

    [SkippableFact]
    public void LoadInfersVitSmallFromWidth()
    {
        // The ViT-T fixture with its encoder widened to ViT-S (384 wide, 1536 MLP): only shapes matter here.
        var tensors = new Dictionary<string, CheckpointTensor>();
        foreach (var (name, t) in EfficientSamTestSupport.StateDict.Tensors)
        {
            int[] shape = name.StartsWith("image_encoder.", StringComparison.Ordinal)
                ? t.Shape.Select(d => d switch { 192 => 384, 576 => 1152, 768 => 1536, _ => d }).ToArray()
                : t.Shape;
            tensors[name] = CheckpointTensor.FromFloats(new float[shape.Aggregate(1, (a, b) => a * b)], shape);
        }
        var model = EfficientSam.Load(new StateDict(tensors, "vit_s-shaped"));
        Assert.Equal("vit_s", model.Variant);
        Assert.Equal((384, 6, 1536), (model.ImageEncoder.Config.EmbedDim, model.ImageEncoder.Config.NumHeads, model.ImageEncoder.Config.MlpHiddenDim));
    }
}
