namespace SegmentAnything;

/// <summary>
/// One prompt in original-image pixels: points with labels (1 foreground, 0 background; EfficientSAM
/// also 2/3 box corners), an optional box (x0, y0, x1, y1) and an optional low-resolution mask of
/// logits from an earlier prediction.
/// </summary>
public sealed record Prompt(float[]? Points = null, int[]? Labels = null, float[]? Box = null, float[]? MaskInput = null)
{
    public int PointCount => Labels?.Length ?? 0;

    public static Prompt FromPoint(float x, float y, int label = 1) => new([x, y], [label]);

    public static Prompt FromBox(float x0, float y0, float x1, float y1) => new(Box: [x0, y0, x1, y1]);

    /// <summary>Checks the prompt against an image of <paramref name="size"/>; throws ArgumentException naming the problem.</summary>
    public void Validate((int H, int W) size, int maskInputSide)
    {
        int n = Labels?.Length ?? 0;
        if ((Points?.Length ?? 0) != 2 * n)
            throw new ArgumentException($"Prompt has {(Points?.Length ?? 0) / 2} points but {n} labels.");
        if (n == 0 && Box is null && MaskInput is null)
            throw new ArgumentException("Empty prompt: give at least one point, a box or a mask input.");
        for (int i = 0; i < n; i++)
        {
            float x = Points![2 * i], y = Points[2 * i + 1];
            if (!float.IsFinite(x) || !float.IsFinite(y) || x < 0 || y < 0 || x > size.W || y > size.H)
                throw new ArgumentException($"Point {i} ({x}, {y}) lies outside the {size.W}x{size.H} image.");
        }
        if (Box is not null)
        {
            if (Box.Length != 4) throw new ArgumentException("A box needs four numbers x0, y0, x1, y1.");
            if (Box.Any(v => !float.IsFinite(v)) || Box[0] < 0 || Box[1] < 0 || Box[2] > size.W || Box[3] > size.H)
                throw new ArgumentException($"Box ({string.Join(", ", Box)}) lies outside the {size.W}x{size.H} image.");
            if (Box[2] < Box[0] || Box[3] < Box[1])
                throw new ArgumentException($"Box ({string.Join(", ", Box)}) has x1 < x0 or y1 < y0.");
        }
        if (MaskInput is not null && MaskInput.Length != maskInputSide * maskInputSide)
            throw new ArgumentException($"Mask input must be {maskInputSide}x{maskInputSide} low-resolution logits, got {MaskInput.Length} values.");
    }
}
