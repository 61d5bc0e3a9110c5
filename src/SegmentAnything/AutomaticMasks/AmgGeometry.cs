namespace SegmentAnything.AutomaticMasks;

/// <summary>An integer box x0, y0, x1, y1 (exclusive ends for crops, inclusive for mask boxes, as amg uses them).</summary>
public readonly record struct BoxXyxy(int X0, int Y0, int X1, int Y1)
{
    public int Width => X1 - X0;
    public int Height => Y1 - Y0;

    /// <summary>amg's <c>box_xyxy_to_xywh</c>.</summary>
    public int[] ToXywh() => [X0, Y0, X1 - X0, Y1 - Y0];

    public BoxXyxy Offset(int dx, int dy) => new(X0 + dx, Y0 + dy, X1 + dx, Y1 + dy);
}

/// <summary>The point grids and crop boxes of amg (<c>build_point_grid</c>, <c>generate_crop_boxes</c>, …).</summary>
public static class AmgGeometry
{
    /// <summary>An n×n grid evenly spaced in [0, 1]², cell centres, x varying fastest: interleaved (x, y).</summary>
    public static double[] BuildPointGrid(int nPerSide)
    {
        if (nPerSide < 1) throw new ArgumentOutOfRangeException(nameof(nPerSide), "A point grid needs at least one point per side.");
        double offset = 1.0 / (2 * nPerSide);
        var side = Linspace(offset, 1 - offset, nPerSide);
        var points = new double[2 * nPerSide * nPerSide];
        for (int y = 0; y < nPerSide; y++)
            for (int x = 0; x < nPerSide; x++)
            {
                points[2 * (y * nPerSide + x)] = side[x];
                points[2 * (y * nPerSide + x) + 1] = side[y];
            }
        return points;
    }

    /// <summary>numpy's <c>linspace</c>: start + i·step, the last value exactly <paramref name="stop"/>.</summary>
    internal static double[] Linspace(double start, double stop, int n)
    {
        var r = new double[n];
        if (n == 1) { r[0] = start; return r; }
        double step = (stop - start) / (n - 1);
        for (int i = 0; i < n; i++) r[i] = start + i * step;
        r[n - 1] = stop;
        return r;
    }

    /// <summary>One grid per crop layer: layer i has <c>int(n / scale^i)</c> points per side.</summary>
    public static List<double[]> BuildAllLayerPointGrids(int nPerSide, int nLayers, int scalePerLayer)
    {
        var grids = new List<double[]>();
        for (int i = 0; i <= nLayers; i++)
        {
            int n = (int)(nPerSide / Math.Pow(scalePerLayer, i));
            if (n < 1) throw new ArgumentException($"Crop layer {i} would have {nPerSide}/{scalePerLayer}^{i} < 1 points per side.");
            grids.Add(BuildPointGrid(n));
        }
        return grids;
    }

    /// <summary>The whole image, then for layer i (2^i)² overlapping crops, x-major as itertools.product.</summary>
    public static List<(BoxXyxy Box, int Layer)> GenerateCropBoxes(int imageH, int imageW, int nLayers, double overlapRatio)
    {
        if (imageH <= 0 || imageW <= 0) throw new ArgumentException($"Invalid image size {imageW}x{imageH}.");
        var boxes = new List<(BoxXyxy, int)> { (new BoxXyxy(0, 0, imageW, imageH), 0) };
        int shortSide = Math.Min(imageH, imageW);
        for (int layer = 0; layer < nLayers; layer++)
        {
            int perSide = 1 << (layer + 1);
            int overlap = (int)(overlapRatio * shortSide * (2.0 / perSide));
            int cropW = CropLength(imageW, perSide, overlap), cropH = CropLength(imageH, perSide, overlap);
            for (int i = 0; i < perSide; i++)
            {
                int x0 = (cropW - overlap) * i;
                for (int j = 0; j < perSide; j++)
                {
                    int y0 = (cropH - overlap) * j;
                    boxes.Add((new BoxXyxy(x0, y0, Math.Min(x0 + cropW, imageW), Math.Min(y0 + cropH, imageH)), layer + 1));
                }
            }
        }
        return boxes;
    }

    private static int CropLength(int length, int nCrops, int overlap) => (int)Math.Ceiling((overlap * (nCrops - 1) + length) / (double)nCrops);

    /// <summary>
    /// amg's <c>is_box_near_crop_edge</c>: a side of the (uncropped) box within <paramref name="atol"/> of the
    /// crop's side while not within it of the image's side.
    /// </summary>
    public static bool IsBoxNearCropEdge(BoxXyxy boxInCrop, BoxXyxy crop, BoxXyxy image, float atol = 20f)
    {
        var b = boxInCrop.Offset(crop.X0, crop.Y0);
        ReadOnlySpan<int> bs = [b.X0, b.Y0, b.X1, b.Y1], cs = [crop.X0, crop.Y0, crop.X1, crop.Y1], os = [image.X0, image.Y0, image.X1, image.Y1];
        for (int i = 0; i < 4; i++)
        {
            bool nearCrop = MathF.Abs(bs[i] - cs[i]) <= atol, nearImage = MathF.Abs(bs[i] - os[i]) <= atol;
            if (nearCrop && !nearImage) return true;
        }
        return false;
    }

    /// <summary>amg's <c>calculate_stability_score</c> on one mask of logits: |logits &gt; t+o| / |logits &gt; t−o| (NaN when both are empty).</summary>
    public static float StabilityScore(ReadOnlySpan<float> logits, float maskThreshold, float offset)
    {
        var (inter, union) = CountAbove(logits, maskThreshold + offset, maskThreshold - offset);
        return (float)inter / union;
    }

    /// <summary>Counts of values above a high and a low threshold, vectorised.</summary>
    public static (int High, int Low) CountAbove(ReadOnlySpan<float> x, float high, float low)
    {
        int hi = 0, lo = 0, i = 0;
        int n = System.Numerics.Vector<float>.Count;
        var vh = new System.Numerics.Vector<float>(high);
        var vl = new System.Numerics.Vector<float>(low);
        var accH = System.Numerics.Vector<int>.Zero;
        var accL = System.Numerics.Vector<int>.Zero;
        for (; i <= x.Length - n; i += n)
        {
            var v = new System.Numerics.Vector<float>(x.Slice(i, n));
            accH -= System.Numerics.Vector.GreaterThan(v, vh);
            accL -= System.Numerics.Vector.GreaterThan(v, vl);
        }
        hi = System.Numerics.Vector.Sum(accH);
        lo = System.Numerics.Vector.Sum(accL);
        for (; i < x.Length; i++)
        {
            if (x[i] > high) hi++;
            if (x[i] > low) lo++;
        }
        return (hi, lo);
    }

    /// <summary>amg's <c>uncrop_masks</c>: a crop-sized mask placed into the image (zero padding).</summary>
    public static bool[] UncropMask(ReadOnlySpan<bool> mask, BoxXyxy crop, int imageH, int imageW)
    {
        int h = crop.Height, w = crop.Width;
        if ((long)h * w != mask.Length) throw new ArgumentException($"Mask of {mask.Length} values does not match crop {w}x{h}.");
        if (crop.X0 < 0 || crop.Y0 < 0 || crop.X1 > imageW || crop.Y1 > imageH) throw new ArgumentException("Crop box lies outside the image.");
        if (crop.X0 == 0 && crop.Y0 == 0 && w == imageW && h == imageH) return mask.ToArray();
        var full = new bool[imageH * imageW];
        for (int y = 0; y < h; y++) mask.Slice(y * w, w).CopyTo(full.AsSpan((y + crop.Y0) * imageW + crop.X0, w));
        return full;
    }
}
