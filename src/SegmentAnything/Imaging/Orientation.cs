namespace SegmentAnything.Imaging;

/// <summary>Applies an EXIF orientation (1..8) so the image reads upright.</summary>
internal static class Orientation
{
    public static RgbImage Apply(RgbImage src, int exifOrientation)
    {
        if (exifOrientation is < 2 or > 8) return src;
        int w = src.Width, h = src.Height;
        bool swap = exifOrientation >= 5;
        var dst = new RgbImage(swap ? h : w, swap ? w : h);
        int dw = dst.Width, dh = dst.Height;
        byte[] s = src.Pixels, d = dst.Pixels;
        Parallel.For(0, dh, y =>
        {
            int o = y * dw * 3;
            for (int x = 0; x < dw; x++, o += 3)
            {
                (int sx, int sy) = exifOrientation switch
                {
                    2 => (w - 1 - x, y),
                    3 => (w - 1 - x, h - 1 - y),
                    4 => (x, h - 1 - y),
                    5 => (y, x),
                    6 => (y, h - 1 - x),
                    7 => (w - 1 - y, h - 1 - x),
                    _ => (w - 1 - y, x),
                };
                int i = (sy * w + sx) * 3;
                d[o] = s[i];
                d[o + 1] = s[i + 1];
                d[o + 2] = s[i + 2];
            }
        });
        return dst;
    }
}
