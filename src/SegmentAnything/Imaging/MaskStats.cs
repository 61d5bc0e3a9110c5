namespace SegmentAnything.Imaging;

/// <summary>Area and bounding box of a row-major [h, w] mask, as SAM's automatic mask generator reports them.</summary>
public static class MaskStats
{
    public static int Area(ReadOnlySpan<bool> mask) => mask.Count(true);

    /// <summary>
    /// amg's <c>batched_mask_to_box</c>: (x0, y0, x1, y1) of the first and last set column and row, inclusive;
    /// (0, 0, 0, 0) for an empty mask.
    /// </summary>
    public static (int X0, int Y0, int X1, int Y1) BoundingBoxXyxy(ReadOnlySpan<bool> mask, int height, int width)
    {
        if (height <= 0 || width <= 0 || (long)height * width != mask.Length)
            throw new ArgumentException($"Mask of {mask.Length} values does not match {width}x{height}.");
        int x0 = width, x1 = -1, y0 = height, y1 = -1;
        for (int y = 0; y < height; y++)
        {
            var row = mask.Slice(y * width, width);
            int first = row.IndexOf(true);
            if (first < 0) continue;
            int last = row.LastIndexOf(true);
            if (y0 == height) y0 = y;
            y1 = y;
            x0 = Math.Min(x0, first);
            x1 = Math.Max(x1, last);
        }
        return y1 < 0 ? (0, 0, 0, 0) : (x0, y0, x1, y1);
    }

    /// <summary>amg's box in XYWH after <c>box_xyxy_to_xywh</c>: width x1 − x0, height y1 − y0 (not + 1).</summary>
    public static (int X, int Y, int W, int H) BoundingBox(ReadOnlySpan<bool> mask, int height, int width)
    {
        var (x0, y0, x1, y1) = BoundingBoxXyxy(mask, height, width);
        return (x0, y0, x1 - x0, y1 - y0);
    }
}
