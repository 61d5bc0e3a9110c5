using SegmentAnything.Imaging;

namespace SegmentAnything.Compression;

/// <summary>How closely a candidate model's masks follow a reference model's (MobileSAM's "mIoU against SAM").</summary>
public sealed record AgreementResult(double PointMIoU, int PointPrompts, double BoxMIoU, int BoxPrompts, double IouScoreMae)
{
    public double MIoU => (PointMIoU * PointPrompts + BoxMIoU * BoxPrompts) / Math.Max(1, PointPrompts + BoxPrompts);
}

/// <summary>mIoU against ground-truth instance masks, one click at each instance's centre.</summary>
public sealed record GroundTruthResult(double MIoU, int Instances);

/// <summary>A ground-truth scene: the image and its instance map (pixel value = instance id, 0 = background).</summary>
public sealed record InstanceScene(RgbImage Image, byte[] Instances);

/// <summary>
/// Quality measures for compressed models. Every prompt takes the best of the three multimask outputs by
/// predicted IoU, as SAM's interactive use does; masks are compared at the original image size.
/// </summary>
public static class ModelEvaluator
{
    /// <summary>
    /// Agreement of <paramref name="candidate"/> with <paramref name="reference"/>: one foreground click at the
    /// centre of each cell of a <paramref name="grid"/> x grid lattice, then the bounding box of the
    /// reference's mask for that click as a box prompt; IoU of the two models' chosen masks, averaged, and the
    /// mean absolute difference of their predicted IoU scores.
    /// </summary>
    public static AgreementResult Agreement(SamModel candidate, SamModel reference, IEnumerable<RgbImage> images, int grid = 8)
    {
        if (grid < 1) throw new ArgumentOutOfRangeException(nameof(grid), "The point grid needs at least 1x1 points.");
        var cand = new SamPredictor(candidate);
        var refp = new SamPredictor(reference);
        double pointSum = 0, boxSum = 0, scoreErr = 0;
        int points = 0, boxes = 0, scores = 0;
        foreach (var image in images)
        {
            cand.SetImage(image);
            refp.SetImage(image);
            var prompts = new List<Prompt>();
            for (int gy = 0; gy < grid; gy++)
                for (int gx = 0; gx < grid; gx++)
                    prompts.Add(Prompt.FromPoint((gx + 0.5f) * image.Width / grid, (gy + 0.5f) * image.Height / grid));
            var refMasks = refp.PredictBatch(prompts);
            var candMasks = cand.PredictBatch(prompts);
            var boxPrompts = new List<Prompt>();
            for (int i = 0; i < prompts.Count; i++)
            {
                var r = refMasks[i].Mask(refMasks[i].BestIndex());
                pointSum += IoU(r, candMasks[i].Mask(candMasks[i].BestIndex()));
                points++;
                for (int j = 0; j < refMasks[i].Count; j++) { scoreErr += Math.Abs(refMasks[i].Scores[j] - candMasks[i].Scores[j]); scores++; }
                if (BoundingBox(r, image.Width) is { } box) boxPrompts.Add(Prompt.FromBox(box.X0, box.Y0, box.X1, box.Y1));
            }
            if (boxPrompts.Count == 0) continue;
            var refBox = refp.PredictBatch(boxPrompts);
            var candBox = cand.PredictBatch(boxPrompts);
            for (int i = 0; i < boxPrompts.Count; i++)
            {
                boxSum += IoU(refBox[i].Mask(refBox[i].BestIndex()), candBox[i].Mask(candBox[i].BestIndex()));
                boxes++;
            }
        }
        return new AgreementResult(points == 0 ? 0 : pointSum / points, points, boxes == 0 ? 0 : boxSum / boxes, boxes, scores == 0 ? 0 : scoreErr / scores);
    }

    /// <summary>mIoU of <paramref name="model"/> against instance masks: one click at each instance's centre (its centroid, or the instance pixel nearest to it when the centroid falls outside).</summary>
    public static GroundTruthResult GroundTruth(SamModel model, IEnumerable<InstanceScene> scenes)
    {
        var predictor = new SamPredictor(model);
        double sum = 0;
        int count = 0;
        foreach (var scene in scenes)
        {
            int w = scene.Image.Width, h = scene.Image.Height;
            if (scene.Instances.Length != w * h) throw new ArgumentException($"Instance map has {scene.Instances.Length} pixels, the image {w * h}.");
            predictor.SetImage(scene.Image);
            var ids = scene.Instances.Where(v => v != 0).Distinct().Order().ToList();
            var prompts = new List<Prompt>();
            foreach (byte id in ids)
            {
                var (cx, cy) = Centre(scene.Instances, w, h, id);
                prompts.Add(Prompt.FromPoint(cx, cy));
            }
            if (prompts.Count == 0) continue;
            var results = predictor.PredictBatch(prompts);
            for (int i = 0; i < ids.Count; i++)
            {
                var gt = new bool[w * h];
                for (int p = 0; p < gt.Length; p++) gt[p] = scene.Instances[p] == ids[i];
                sum += IoU(results[i].Mask(results[i].BestIndex()), gt);
                count++;
            }
        }
        return new GroundTruthResult(count == 0 ? 0 : sum / count, count);
    }

    /// <summary>Instance ids from the first channel of an 8-bit instance PNG.</summary>
    public static byte[] InstanceIds(RgbImage instances)
    {
        var ids = new byte[instances.Width * instances.Height];
        for (int i = 0; i < ids.Length; i++) ids[i] = instances.Pixels[3 * i];
        return ids;
    }

    /// <summary>IoU of two masks; two empty masks agree perfectly.</summary>
    public static double IoU(bool[] a, bool[] b)
    {
        if (a.Length != b.Length) throw new ArgumentException("Masks differ in size.");
        long inter = 0, union = 0;
        for (int i = 0; i < a.Length; i++)
        {
            inter += a[i] & b[i] ? 1 : 0;
            union += a[i] | b[i] ? 1 : 0;
        }
        return union == 0 ? 1.0 : (double)inter / union;
    }

    private static (float X0, float Y0, float X1, float Y1)? BoundingBox(bool[] mask, int width)
    {
        int x0 = int.MaxValue, y0 = int.MaxValue, x1 = -1, y1 = -1;
        for (int i = 0; i < mask.Length; i++)
        {
            if (!mask[i]) continue;
            int x = i % width, y = i / width;
            x0 = Math.Min(x0, x); x1 = Math.Max(x1, x);
            y0 = Math.Min(y0, y); y1 = Math.Max(y1, y);
        }
        return x1 < 0 ? null : (x0, y0, x1, y1);
    }

    private static (float X, float Y) Centre(byte[] instances, int w, int h, byte id)
    {
        double sx = 0, sy = 0;
        long n = 0;
        for (int i = 0; i < instances.Length; i++)
            if (instances[i] == id) { sx += i % w; sy += i / w; n++; }
        int cx = (int)Math.Round(sx / n), cy = (int)Math.Round(sy / n);
        if (instances[cy * w + cx] == id) return (cx, cy);
        long best = long.MaxValue;
        for (int i = 0; i < instances.Length; i++)
        {
            if (instances[i] != id) continue;
            long dx = i % w - cx, dy = i / w - cy, d = dx * dx + dy * dy;
            if (d < best) { best = d; (cx, cy) = (i % w, i / w); }
        }
        return (cx, cy);
    }
}
