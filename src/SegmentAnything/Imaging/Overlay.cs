namespace SegmentAnything.Imaging;

/// <summary>A prompt point to mark on an overlay: foreground (green) or background (red).</summary>
public readonly record struct OverlayPoint(float X, float Y, bool Foreground);

/// <summary>A prompt box to outline on an overlay, in original-image pixels.</summary>
public readonly record struct OverlayBox(float X0, float Y0, float X1, float Y1);

/// <summary>Draws masks over an image in distinct translucent colours, with optional prompt markers.</summary>
public static class Overlay
{
    private static readonly byte[][] Palette =
    [
        [30, 144, 255], [255, 99, 71], [50, 205, 50], [255, 215, 0], [186, 85, 211], [0, 206, 209],
        [255, 140, 0], [255, 20, 147], [124, 252, 0], [70, 130, 180], [210, 105, 30], [128, 128, 255],
    ];

    public static RgbImage Draw(RgbImage image, IReadOnlyList<bool[]> masks, IReadOnlyList<OverlayPoint>? points = null,
        IReadOnlyList<OverlayBox>? boxes = null, float alpha = 0.5f)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(masks);
        if (alpha is < 0f or > 1f) throw new ArgumentOutOfRangeException(nameof(alpha), "Alpha must lie in [0, 1].");
        int w = image.Width, h = image.Height;
        var result = image.Clone();
        byte[] px = result.Pixels;
        for (int m = 0; m < masks.Count; m++)
        {
            bool[] mask = masks[m];
            if (mask.Length != w * h) throw new ArgumentException($"Mask {m} has {mask.Length} values, not {w}x{h}.");
            byte[] colour = ColourOf(m);
            Parallel.For(0, h, y =>
            {
                for (int i = y * w, end = i + w; i < end; i++)
                {
                    if (!mask[i]) continue;
                    int o = i * 3;
                    for (int c = 0; c < 3; c++)
                        px[o + c] = (byte)MathF.Round(px[o + c] * (1f - alpha) + colour[c] * alpha);
                }
            });
        }
        if (boxes is not null)
            foreach (var box in boxes) DrawRectangle(result, box, [0, 255, 0], Math.Max(2, Math.Min(w, h) / 300));
        if (points is not null)
        {
            int radius = Math.Max(4, Math.Min(w, h) / 80);
            foreach (var p in points)
            {
                byte[] colour = p.Foreground ? [0, 200, 0] : [220, 0, 0];
                DrawDisc(result, p.X, p.Y, radius + 1, [255, 255, 255]);
                DrawDisc(result, p.X, p.Y, radius, colour);
            }
        }
        return result;
    }

    /// <summary>The colour mask <paramref name="index"/> is drawn in.</summary>
    public static (byte R, byte G, byte B) Colour(int index)
    {
        var c = ColourOf(index);
        return (c[0], c[1], c[2]);
    }

    private static byte[] ColourOf(int index) => Palette[((index % Palette.Length) + Palette.Length) % Palette.Length];

    private static void DrawDisc(RgbImage img, float cx, float cy, int radius, byte[] colour)
    {
        int x0 = Math.Max(0, (int)MathF.Floor(cx - radius)), x1 = Math.Min(img.Width - 1, (int)MathF.Ceiling(cx + radius));
        int y0 = Math.Max(0, (int)MathF.Floor(cy - radius)), y1 = Math.Min(img.Height - 1, (int)MathF.Ceiling(cy + radius));
        float r2 = radius * radius;
        for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++)
            {
                float dx = x + 0.5f - cx, dy = y + 0.5f - cy;
                if (dx * dx + dy * dy <= r2) Set(img, x, y, colour);
            }
    }

    private static void DrawRectangle(RgbImage img, OverlayBox b, byte[] colour, int thickness)
    {
        int x0 = Clamp((int)MathF.Round(Math.Min(b.X0, b.X1)), img.Width), x1 = Clamp((int)MathF.Round(Math.Max(b.X0, b.X1)), img.Width);
        int y0 = Clamp((int)MathF.Round(Math.Min(b.Y0, b.Y1)), img.Height), y1 = Clamp((int)MathF.Round(Math.Max(b.Y0, b.Y1)), img.Height);
        for (int t = 0; t < thickness; t++)
        {
            for (int x = x0; x <= x1; x++)
            {
                Set(img, x, y0 + t, colour);
                Set(img, x, y1 - t, colour);
            }
            for (int y = y0; y <= y1; y++)
            {
                Set(img, x0 + t, y, colour);
                Set(img, x1 - t, y, colour);
            }
        }
    }

    private static int Clamp(int v, int size) => Math.Clamp(v, 0, size - 1);

    private static void Set(RgbImage img, int x, int y, byte[] colour)
    {
        if ((uint)x >= (uint)img.Width || (uint)y >= (uint)img.Height) return;
        int o = (y * img.Width + x) * 3;
        img.Pixels[o] = colour[0];
        img.Pixels[o + 1] = colour[1];
        img.Pixels[o + 2] = colour[2];
    }
}
