namespace SegmentAnything.Imaging;

/// <summary>
/// SAM's <c>ResizeLongestSide</c>: scales an image so its longest side is <see cref="TargetLength"/>
/// (PIL bilinear) and maps point and box coordinates from the original image to the resized one.
/// </summary>
public sealed class ResizeLongestSide
{
    public int TargetLength { get; }

    public ResizeLongestSide(int targetLength)
    {
        if (targetLength <= 0) throw new ArgumentOutOfRangeException(nameof(targetLength), "Target length must be positive.");
        TargetLength = targetLength;
    }

    /// <summary>The (H, W) an image of (oldH, oldW) is resized to; rounding as the official int(x + 0.5).</summary>
    public static (int H, int W) GetPreprocessShape(int oldH, int oldW, int longSideLength)
    {
        if (oldH <= 0 || oldW <= 0) throw new ArgumentException($"Image size {oldW}x{oldH} must be positive.");
        double scale = longSideLength * 1.0 / Math.Max(oldH, oldW);
        double newH = oldH * scale, newW = oldW * scale;
        return ((int)(newH + 0.5), (int)(newW + 0.5));
    }

    public (int H, int W) GetPreprocessShape(int oldH, int oldW) => GetPreprocessShape(oldH, oldW, TargetLength);

    public RgbImage ApplyImage(RgbImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var (h, w) = GetPreprocessShape(image.Height, image.Width);
        return PilResize.Bilinear(image, w, h);
    }

    /// <summary>
    /// Scales interleaved (x, y) pairs as <c>apply_coords</c>: in float64 (numpy), then rounded to float32
    /// as the predictor does when it turns them into a tensor.
    /// </summary>
    public float[] ApplyCoords(ReadOnlySpan<double> xy, (int H, int W) originalSize)
    {
        if (xy.Length % 2 != 0) throw new ArgumentException("Coordinates must come in (x, y) pairs.");
        var (sx, sy) = Scales(originalSize);
        var result = new float[xy.Length];
        for (int i = 0; i < xy.Length; i += 2)
        {
            result[i] = (float)(xy[i] * sx);
            result[i + 1] = (float)(xy[i + 1] * sy);
        }
        return result;
    }

    public float[] ApplyCoords(ReadOnlySpan<float> xy, (int H, int W) originalSize)
    {
        var wide = new double[xy.Length];
        for (int i = 0; i < xy.Length; i++) wide[i] = xy[i];
        return ApplyCoords(wide, originalSize);
    }

    /// <summary>Boxes as x0, y0, x1, y1 (any number of them, flattened): both corners scaled as coordinates.</summary>
    public float[] ApplyBoxes(ReadOnlySpan<double> boxes, (int H, int W) originalSize)
    {
        if (boxes.Length % 4 != 0) throw new ArgumentException("Boxes must have four coordinates each.");
        return ApplyCoords(boxes, originalSize);
    }

    public float[] ApplyBoxes(ReadOnlySpan<float> boxes, (int H, int W) originalSize)
    {
        if (boxes.Length % 4 != 0) throw new ArgumentException("Boxes must have four coordinates each.");
        return ApplyCoords(boxes, originalSize);
    }

    /// <summary>
    /// <c>apply_coords_torch</c>: float32 coordinates times the scale rounded to float32, as torch multiplies a
    /// float tensor by a Python float (used by <c>predict_torch</c> callers).
    /// </summary>
    public float[] ApplyCoordsTorch(ReadOnlySpan<float> xy, (int H, int W) originalSize)
    {
        if (xy.Length % 2 != 0) throw new ArgumentException("Coordinates must come in (x, y) pairs.");
        var (sx, sy) = Scales(originalSize);
        float fx = (float)sx, fy = (float)sy;
        var result = new float[xy.Length];
        for (int i = 0; i < xy.Length; i += 2)
        {
            result[i] = xy[i] * fx;
            result[i + 1] = xy[i + 1] * fy;
        }
        return result;
    }

    public float[] ApplyBoxesTorch(ReadOnlySpan<float> boxes, (int H, int W) originalSize)
    {
        if (boxes.Length % 4 != 0) throw new ArgumentException("Boxes must have four coordinates each.");
        return ApplyCoordsTorch(boxes, originalSize);
    }

    private (double X, double Y) Scales((int H, int W) originalSize)
    {
        var (newH, newW) = GetPreprocessShape(originalSize.H, originalSize.W);
        return ((double)newW / originalSize.W, (double)newH / originalSize.H);
    }
}
