using SegmentAnything.AutomaticMasks;
using SegmentAnything.Imaging;
using SegmentAnything.Tests.Support;
using Xunit;

namespace SegmentAnything.Tests.AutomaticMasks;

/// <summary>
/// The generator on the other model families (random weights, so filters off): every record must be
/// consistent and agree with the single-prompt predictor on its own point; the batch size must not matter.
/// </summary>
public class AmgModelFamilyTests
{
    public static TheoryData<string> Models => ["mobile_sam_random", "efficient_sam_vitt_random"];

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void RecordsAgreeWithTheSinglePromptPredictor(string model)
    {
        var sam = SamModel.Load(Fixtures.Path_($"models/{model}.pt"));
        var image = ImageIO.Load(Fixtures.Path_("scenes/scene0.png"));
        var options = new AutomaticMaskGeneratorOptions { PointsPerSide = 3, PredIouThresh = 0, StabilityScoreThresh = 0, BoxNmsThresh = 1f, PointsPerBatch = 4 };
        var predictor = new SamPredictor(sam);
        var records = new AutomaticMaskGenerator(predictor, options).Generate(image);
        // No crops and no filter: every point's three masks survive (NMS at 1.0 drops only identical boxes
        // with IoU > 1, i.e. none).
        Assert.Equal(27, records.Count);

        bool efficient = sam.EfficientSam is not null;
        var byPoint = new Dictionary<(double, double), MaskResult>();
        foreach (var r in records)
        {
            bool[] mask = r.DecodeMask();
            Assert.Equal(mask.Count(b => b), r.Area);
            var (x, y, w, h) = MaskStats.BoundingBox(mask, image.Height, image.Width);
            Assert.Equal([x, y, w, h], r.BBox);
            Assert.Equal([0, 0, image.Width, image.Height], r.CropBox);
            Assert.InRange(r.StabilityScore, 0f, 1f);

            // The predictor still holds the generator's (only) image.
            var key = (r.PointCoords[0], r.PointCoords[1]);
            if (!byPoint.TryGetValue(key, out var single))
                byPoint[key] = single = predictor.Predict(Prompt.FromPoint((float)key.Item1, (float)key.Item2));
            Assert.Equal(efficient, single.InclusiveThreshold);
            int k = Enumerable.Range(0, single.Count).OrderBy(i => Math.Abs(single.Scores[i] - r.PredictedIou)).First();
            Assert.InRange(Math.Abs(single.Scores[k] - r.PredictedIou), 0, 1e-4);
            bool[] expected = single.Mask(k);
            long inter = 0, union = 0;
            for (int i = 0; i < mask.Length; i++)
            {
                if (mask[i] && expected[i]) inter++;
                if (mask[i] || expected[i]) union++;
            }
            Assert.True(union == 0 || inter > 0.99 * union, $"record mask differs from the predictor's mask: IoU {inter}/{union}");
        }
        Assert.Equal(9, byPoint.Count);

        var again = new AutomaticMaskGenerator(sam, options with { PointsPerBatch = 64 }).Generate(image);
        Assert.Equal(records.Select(r => r.Segmentation.Counts), again.Select(r => r.Segmentation.Counts));
        Assert.Equal(records.Select(r => r.PredictedIou), again.Select(r => r.PredictedIou));
    }
}
