using System.Text.Json;
using SegmentAnything.AutomaticMasks;
using SegmentAnything.Imaging;
using SegmentAnything.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace SegmentAnything.Tests.AutomaticMasks;

/// <summary>End to end against the official generator's records (fixtures amg/sam_vit_shapes.json).</summary>
public class AmgParityTests(ITestOutputHelper output)
{
    private static readonly Lazy<SamModel> Model = new(() => SamModel.Load(Fixtures.Path_("models/sam_vit_shapes.pt")));

    internal static AutomaticMaskGeneratorOptions OptionsFrom(JsonElement options)
    {
        var o = new AutomaticMaskGeneratorOptions();
        foreach (var p in options.EnumerateObject())
        {
            o = p.Name switch
            {
                "points_per_side" => o with { PointsPerSide = p.Value.GetInt32() },
                "points_per_batch" => o with { PointsPerBatch = p.Value.GetInt32() },
                "pred_iou_thresh" => o with { PredIouThresh = p.Value.GetSingle() },
                "stability_score_thresh" => o with { StabilityScoreThresh = p.Value.GetSingle() },
                "stability_score_offset" => o with { StabilityScoreOffset = p.Value.GetSingle() },
                "box_nms_thresh" => o with { BoxNmsThresh = p.Value.GetSingle() },
                "crop_n_layers" => o with { CropNLayers = p.Value.GetInt32() },
                "crop_nms_thresh" => o with { CropNmsThresh = p.Value.GetSingle() },
                "crop_overlap_ratio" => o with { CropOverlapRatio = p.Value.GetDouble() },
                "crop_n_points_downscale_factor" => o with { CropNPointsDownscaleFactor = p.Value.GetInt32() },
                "min_mask_region_area" => o with { MinMaskRegionArea = p.Value.GetInt32() },
                _ => throw new InvalidOperationException($"Unknown fixture option {p.Name}"),
            };
        }
        return o;
    }

    [SkippableTheory]
    [InlineData("permissive")]
    [InlineData("grid16_crop1_minarea")]
    public void MatchesOfficialRecords(string config)
    {
        var doc = JsonDocument.Parse(File.ReadAllText(Fixtures.Path_("amg/sam_vit_shapes.json"))).RootElement;
        var cfg = doc.GetProperty("configs").GetProperty(config);
        var options = OptionsFrom(cfg.GetProperty("options"));
        var image = ImageIO.Load(Fixtures.Path_(doc.GetProperty("image").GetString()!));
        var gen = new AutomaticMaskGenerator(Model.Value, options);
        var ours = gen.Generate(image);
        output.WriteLine($"{gen.LastTimings}");
        var expected = cfg.GetProperty("records").EnumerateArray().ToList();
        float predThresh = options.PredIouThresh, stabThresh = options.StabilityScoreThresh;
        for (int i = 0; i < Math.Max(ours.Count, expected.Count); i++)
        {
            string o = i < ours.Count ? $"ours iou={ours[i].PredictedIou:F5} stab={ours[i].StabilityScore:F5} bbox=[{string.Join(",", ours[i].BBox)}] pt=({ours[i].PointCoords[0]},{ours[i].PointCoords[1]})" : "-";
            string e = i < expected.Count ? $"official iou={expected[i].GetProperty("predicted_iou").GetSingle():F5} stab={expected[i].GetProperty("stability_score").GetSingle():F5} bbox={expected[i].GetProperty("bbox")} pt={expected[i].GetProperty("point_coords")}" : "-";
            output.WriteLine($"{i}: {o} | {e}");
        }
        bool NearThreshold(JsonElement r) =>
            Math.Abs(r.GetProperty("predicted_iou").GetSingle() - predThresh) < 1e-3 || Math.Abs(r.GetProperty("stability_score").GetSingle() - stabThresh) < 1e-3;
        var unmatched = ours.ToList();
        int last = -1;
        foreach (var r in expected)
        {
            var seg = r.GetProperty("segmentation");
            var size = seg.GetProperty("size").EnumerateArray().Select(x => x.GetInt32()).ToArray();
            var rle = new CocoRle(size[0], size[1], seg.GetProperty("counts").EnumerateArray().Select(x => x.GetInt32()).ToArray());
            bool[] want = MaskRle.Decode(rle);
            int best = -1;
            double bestIou = 0;
            for (int j = 0; j < ours.Count; j++)
            {
                double iou = MaskIou(want, ours[j].DecodeMask());
                if (iou > bestIou) (best, bestIou) = (j, iou);
            }
            if (bestIou <= 0.99)
            {
                Assert.True(NearThreshold(r), $"official mask (iou {r.GetProperty("predicted_iou")}, bbox {r.GetProperty("bbox")}) missing; best IoU {bestIou:F4}");
                continue;
            }
            var m = ours[best];
            unmatched.Remove(m);
            Assert.True(best > last, $"order differs at official record matched to ours #{best}");
            last = best;
            Assert.InRange(Math.Abs(m.PredictedIou - r.GetProperty("predicted_iou").GetSingle()), 0, 1e-3);
            Assert.InRange(Math.Abs(m.StabilityScore - r.GetProperty("stability_score").GetSingle()), 0, 1e-3);
            Assert.Equal(r.GetProperty("crop_box").EnumerateArray().Select(x => (int)x.GetDouble()), m.CropBox);
            Assert.Equal(r.GetProperty("point_coords")[0].EnumerateArray().Select(x => x.GetDouble()), m.PointCoords);
        }
        foreach (var extra in unmatched)
            Assert.True(Math.Abs(extra.PredictedIou - predThresh) < 1e-3 || Math.Abs(extra.StabilityScore - stabThresh) < 1e-3,
                $"extra mask iou {extra.PredictedIou} stability {extra.StabilityScore} bbox [{string.Join(",", extra.BBox)}]");
    }

    [SkippableFact]
    public void DefaultThresholdsGiveAnEmptyList()
    {
        var doc = JsonDocument.Parse(File.ReadAllText(Fixtures.Path_("amg/sam_vit_shapes.json"))).RootElement;
        var image = ImageIO.Load(Fixtures.Path_(doc.GetProperty("image").GetString()!));
        var gen = new AutomaticMaskGenerator(Model.Value, new AutomaticMaskGeneratorOptions { PointsPerSide = 8, CropNLayers = 1 });
        Assert.Empty(gen.Generate(image));
    }

    internal static double MaskIou(bool[] a, bool[] b)
    {
        int inter = 0, union = 0;
        for (int i = 0; i < a.Length; i++)
        {
            if (a[i] && b[i]) inter++;
            if (a[i] || b[i]) union++;
        }
        return union == 0 ? 1 : (double)inter / union;
    }
}
