namespace SegmentAnything.AutomaticMasks;

/// <summary>
/// torchvision's <c>nms</c> / <c>batched_nms</c> with one category, as amg calls it: candidates in
/// order of decreasing score (a stable sort, so equal scores keep their input order), a box dropped
/// when its IoU with a kept one exceeds the threshold. Areas and IoUs in float32 like the CPU kernel.
/// </summary>
public static class BoxNms
{
    /// <summary>Indices of the kept boxes, highest score first.</summary>
    public static int[] Run(IReadOnlyList<BoxXyxy> boxes, ReadOnlySpan<float> scores, float iouThreshold)
    {
        int n = boxes.Count;
        if (scores.Length != n) throw new ArgumentException($"{n} boxes but {scores.Length} scores.");
        var s = scores.ToArray();
        var order = Enumerable.Range(0, n).ToArray();
        // Descending and stable; NaN scores last (torch sorts NaN as the largest in descending order).
        var sorted = order.OrderByDescending(i => float.IsNaN(s[i]) ? float.PositiveInfinity : s[i]).ToArray();
        var x0 = new float[n]; var y0 = new float[n]; var x1 = new float[n]; var y1 = new float[n]; var area = new float[n];
        for (int i = 0; i < n; i++)
        {
            (x0[i], y0[i], x1[i], y1[i]) = (boxes[i].X0, boxes[i].Y0, boxes[i].X1, boxes[i].Y1);
            area[i] = (x1[i] - x0[i]) * (y1[i] - y0[i]);
        }
        var suppressed = new bool[n];
        var keep = new List<int>();
        for (int a = 0; a < n; a++)
        {
            int i = sorted[a];
            if (suppressed[i]) continue;
            keep.Add(i);
            for (int b = a + 1; b < n; b++)
            {
                int j = sorted[b];
                if (suppressed[j]) continue;
                float w = MathF.Max(0f, MathF.Min(x1[i], x1[j]) - MathF.Max(x0[i], x0[j]));
                float h = MathF.Max(0f, MathF.Min(y1[i], y1[j]) - MathF.Max(y0[i], y0[j]));
                float inter = w * h;
                float iou = inter / (area[i] + area[j] - inter);
                if (iou > iouThreshold) suppressed[j] = true;
            }
        }
        return keep.ToArray();
    }
}
