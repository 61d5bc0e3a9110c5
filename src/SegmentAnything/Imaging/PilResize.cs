using System.Buffers;
using System.Numerics;

namespace SegmentAnything.Imaging;

/// <summary>
/// Pillow's <c>Image.resize(size, BILINEAR)</c> for 8-bit images, bit for bit (Pillow's Resample.c),
/// which is what torchvision's <c>resize</c> runs on a PIL image and hence what SAM's
/// <c>ResizeLongestSide.apply_image</c> feeds the encoder. Two separable passes, horizontal first:
/// a triangle filter whose support widens with the downscale factor (antialiasing), coefficients
/// normalised per output pixel then rounded to fixed point, sums rounded and clipped to 0..255 after
/// each pass.
/// </summary>
public static class PilResize
{
    private const int PrecisionBits = 32 - 8 - 2;
    private const int Half = 1 << (PrecisionBits - 1);

    public static RgbImage Bilinear(RgbImage src, int newWidth, int newHeight)
    {
        ArgumentNullException.ThrowIfNull(src);
        if (newWidth <= 0 || newHeight <= 0) throw new ArgumentException($"Target size {newWidth}x{newHeight} must be positive.");

        // Pillow resamples an axis when its size changes (the box is always the whole image here).
        bool needHorizontal = newWidth != src.Width;
        bool needVertical = newHeight != src.Height;
        if (!needHorizontal && !needVertical) return src.Clone();

        var horiz = Coefficients.Bilinear(src.Width, newWidth);
        var vert = Coefficients.Bilinear(src.Height, newHeight);

        // Only the source rows the vertical pass reads go through the horizontal pass.
        int firstRow = vert.Start[0];
        int lastRow = vert.Start[newHeight - 1] + vert.Count[newHeight - 1];

        // The widened plane is tens of megabytes for a photo: rented, so repeated encodes don't
        // allocate it on the large object heap each time (its contents past what we write are never read).
        int[] planeRows; // after the horizontal pass, widened to int for the vertical pass
        int planeWidth;
        if (needHorizontal)
        {
            planeWidth = newWidth;
            planeRows = ArrayPool<int>.Shared.Rent((lastRow - firstRow) * newWidth * 3);
        }
        else
        {
            planeWidth = src.Width;
            firstRow = 0;
            planeRows = ArrayPool<int>.Shared.Rent(src.Pixels.Length);
        }
        try
        {
            if (needHorizontal)
            {
                HorizontalPass(src, firstRow, lastRow, horiz, planeRows);
                if (!needVertical) return ToImage(planeRows, newWidth, newHeight);
            }
            else
                for (int i = 0; i < src.Pixels.Length; i++) planeRows[i] = src.Pixels[i];
            return VerticalPass(planeRows, planeWidth, firstRow, vert, newHeight);
        }
        finally { ArrayPool<int>.Shared.Return(planeRows); }
    }

    private static void HorizontalPass(RgbImage src, int firstRow, int lastRow, Coefficients c, int[] dst)
    {
        int outW = c.Start.Length, inStride = src.Stride, k = c.KernelSize;
        byte[] pixels = src.Pixels;
        Parallel.For(firstRow, lastRow, y =>
        {
            ReadOnlySpan<byte> row = pixels.AsSpan(y * inStride, inStride);
            Span<int> o = dst.AsSpan((y - firstRow) * outW * 3, outW * 3);
            for (int xx = 0; xx < outW; xx++)
            {
                ReadOnlySpan<int> w = c.Weights.AsSpan(xx * k, c.Count[xx]);
                ReadOnlySpan<byte> s = row.Slice(c.Start[xx] * 3, w.Length * 3);
                int s0 = Half, s1 = Half, s2 = Half;
                for (int x = 0, j = 0; x < w.Length; x++, j += 3)
                {
                    int wx = w[x];
                    s0 += s[j] * wx;
                    s1 += s[j + 1] * wx;
                    s2 += s[j + 2] * wx;
                }
                o[xx * 3] = Clip8(s0);
                o[xx * 3 + 1] = Clip8(s1);
                o[xx * 3 + 2] = Clip8(s2);
            }
        });
    }

    private static RgbImage VerticalPass(int[] plane, int width, int firstRow, Coefficients c, int outH)
    {
        var dst = new RgbImage(width, outH);
        int rowLen = width * 3, k = c.KernelSize;
        byte[] outPixels = dst.Pixels;
        Parallel.For(0, outH, () => new int[rowLen], (yy, _, acc) =>
        {
            acc.AsSpan().Fill(Half);
            int start = c.Start[yy] - firstRow;
            for (int y = 0; y < c.Count[yy]; y++)
                MultiplyAdd(plane.AsSpan((start + y) * rowLen, rowLen), c.Weights[yy * k + y], acc);
            Span<byte> o = outPixels.AsSpan(yy * rowLen, rowLen);
            for (int i = 0; i < rowLen; i++) o[i] = (byte)Clip8(acc[i]);
            return acc;
        }, _ => { });
        return dst;
    }

    private static void MultiplyAdd(ReadOnlySpan<int> src, int weight, Span<int> acc)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var w = new Vector<int>(weight);
            var sv = System.Runtime.InteropServices.MemoryMarshal.Cast<int, Vector<int>>(src);
            var av = System.Runtime.InteropServices.MemoryMarshal.Cast<int, Vector<int>>(acc);
            for (int v = 0; v < sv.Length; v++) av[v] += sv[v] * w;
            i = sv.Length * Vector<int>.Count;
        }
        for (; i < src.Length; i++) acc[i] += src[i] * weight;
    }

    private static RgbImage ToImage(int[] plane, int width, int height)
    {
        var img = new RgbImage(width, height);
        for (int i = 0; i < img.Pixels.Length; i++) img.Pixels[i] = (byte)plane[i];
        return img;
    }

    // Pillow: >= 1 << 30 saturates, <= 0 is black, otherwise drop the fraction bits.
    private static int Clip8(int v) => v <= 0 ? 0 : v >= 1 << (PrecisionBits + 8) ? 255 : v >> PrecisionBits;

    /// <summary>Per output index: first source index, number of taps, fixed-point weights (KernelSize per row).</summary>
    private sealed class Coefficients
    {
        public required int[] Start { get; init; }
        public required int[] Count { get; init; }
        public required int[] Weights { get; init; }
        public required int KernelSize { get; init; }

        public static Coefficients Bilinear(int inSize, int outSize)
        {
            const double filterSupport = 1.0;
            double scale = (double)inSize / outSize;
            double filterScale = Math.Max(scale, 1.0);
            double support = filterSupport * filterScale;
            int ksize = (int)Math.Ceiling(support) * 2 + 1;
            var start = new int[outSize];
            var count = new int[outSize];
            var weights = new int[outSize * ksize];
            var k = new double[ksize];
            double ss = 1.0 / filterScale;
            for (int xx = 0; xx < outSize; xx++)
            {
                double center = (xx + 0.5) * scale;
                int xmin = Math.Max((int)(center - support + 0.5), 0);
                int xmax = Math.Min((int)(center + support + 0.5), inSize) - xmin;
                double ww = 0.0;
                for (int x = 0; x < xmax; x++)
                {
                    double t = Math.Abs((x + xmin - center + 0.5) * ss);
                    double w = t < 1.0 ? 1.0 - t : 0.0;
                    k[x] = w;
                    ww += w;
                }
                for (int x = 0; x < xmax; x++)
                {
                    double v = ww != 0.0 ? k[x] / ww : k[x];
                    weights[xx * ksize + x] = v < 0 ? (int)(-0.5 + v * (1 << PrecisionBits)) : (int)(0.5 + v * (1 << PrecisionBits));
                }
                start[xx] = xmin;
                count[xx] = Math.Max(xmax, 0);
            }
            return new Coefficients { Start = start, Count = count, Weights = weights, KernelSize = ksize };
        }
    }
}
