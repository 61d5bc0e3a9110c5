using System.Text.Json;
using SegmentAnything.AutomaticMasks;
using SegmentAnything.Imaging;
using SegmentAnything.Tests.Support;
using Xunit;

namespace SegmentAnything.Tests.AutomaticMasks;

/// <summary>Determinism, batch-size invariance, record consistency and the batched decoder against the per-prompt one.</summary>
public class AmgBehaviourTests
{
    private static readonly Lazy<SamModel> Model = new(() => SamModel.Load(Fixtures.Path_("models/sam_vit_shapes.pt")));

    private static RgbImage Scene() => ImageIO.Load(Fixtures.Path_("scenes/scene0.png"));

    private static readonly AutomaticMaskGeneratorOptions Loose = new()
    {
        PointsPerSide = 8, PredIouThresh = 0.3f, StabilityScoreThresh = 0.4f, CropNLayers = 1, CropNPointsDownscaleFactor = 2, MinMaskRegionArea = 20,
    };

    [SkippableFact]
    public void SameInputSameOutputWhateverTheBatchSize()
    {
        var image = Scene();
        var a = new AutomaticMaskGenerator(Model.Value, Loose).Generate(image);
        var b = new AutomaticMaskGenerator(Model.Value, Loose).Generate(image);
        var c = new AutomaticMaskGenerator(Model.Value, Loose with { PointsPerBatch = 5 }).Generate(image);
        Assert.NotEmpty(a);
        foreach (var other in new[] { b, c })
        {
            Assert.Equal(a.Count, other.Count);
            for (int i = 0; i < a.Count; i++)
            {
                Assert.Equal(a[i].PredictedIou, other[i].PredictedIou);
                Assert.Equal(a[i].StabilityScore, other[i].StabilityScore);
                Assert.Equal(a[i].Segmentation.Counts, other[i].Segmentation.Counts);
                Assert.Equal(a[i].BBox, other[i].BBox);
            }
        }
    }

    [SkippableFact]
    public void RecordsAreInternallyConsistent()
    {
        var image = Scene();
        var records = new AutomaticMaskGenerator(Model.Value, Loose).Generate(image);
        Assert.NotEmpty(records);
        foreach (var r in records)
        {
            bool[] mask = r.DecodeMask();
            Assert.Equal((image.Height, image.Width), (r.Segmentation.Height, r.Segmentation.Width));
            Assert.Equal(mask.Count(x => x), r.Area);
            var (x, y, w, h) = MaskStats.BoundingBox(mask, image.Height, image.Width);
            Assert.Equal([x, y, w, h], r.BBox);
            int cx = r.CropBox[0], cy = r.CropBox[1], cw = r.CropBox[2], ch = r.CropBox[3];
            for (int i = 0; i < mask.Length; i++)
                if (mask[i]) Assert.True(i % image.Width >= cx && i % image.Width < cx + cw && i / image.Width >= cy && i / image.Width < cy + ch, "mask pixel outside its crop box");
            Assert.InRange(r.PointCoords[0], cx, cx + cw);
            Assert.InRange(r.PointCoords[1], cy, cy + ch);
        }
        using var ms = new MemoryStream();
        Sa1bJson.Write(ms, records, AmgOutputMode.CocoRle, "scene0.png", image.Width, image.Height);
        var doc = JsonDocument.Parse(ms.ToArray()).RootElement;
        var first = doc.GetProperty("annotations")[0].GetProperty("segmentation");
        Assert.Equal(records[0].Segmentation.Counts, MaskRle.CountsFromString(first.GetProperty("counts").GetString()!));

        // With polygons: outer rings and holes filled back give each mask exactly.
        using var withPolygons = new MemoryStream();
        Sa1bJson.Write(withPolygons, records, AmgOutputMode.CocoRle, "scene0.png", image.Width, image.Height, polygonTolerance: 0);
        var annotations = JsonDocument.Parse(withPolygons.ToArray()).RootElement.GetProperty("annotations");
        for (int i = 0; i < records.Count; i++)
        {
            var rings = new List<double[]>();
            foreach (string key in new[] { "polygons", "polygon_holes" })
                foreach (var ring in annotations[i].GetProperty(key).EnumerateArray())
                    rings.Add(ring.EnumerateArray().Select(v => v.GetDouble()).ToArray());
            Assert.NotEmpty(annotations[i].GetProperty("polygons").EnumerateArray());
            Assert.Equal(records[i].DecodeMask(), MaskPolygons.Fill(rings, image.Height, image.Width));
        }
    }

    [SkippableFact]
    public void BatchedPointDecoderMatchesThePerPromptDecoder()
    {
        var predictor = new SamPredictor(Model.Value);
        var image = Scene();
        predictor.SetImage(image);
        double[] pts = [97.5, 5.625, 232.5, 151.875, 10, 350, 479, 0];
        var batch = predictor.PredictPoints(pts);
        for (int i = 0; i < pts.Length / 2; i++)
        {
            var single = predictor.Predict(Prompt.FromPoint((float)pts[2 * i], (float)pts[2 * i + 1]));
            Assert.Equal(single.Count, batch.MasksPerPoint);
            for (int k = 0; k < single.Count; k++)
            {
                Assert.InRange(Math.Abs(single.Scores[k] - batch.Iou[i * batch.MasksPerPoint + k]), 0, 1e-4);
                Assert.InRange(Parity.RelativeL2(batch.LowRes(i, k).ToArray(), single.LowRes(k)), 0, 1e-4);
            }
        }
    }
}
