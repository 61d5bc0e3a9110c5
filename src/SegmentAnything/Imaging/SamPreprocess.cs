using SegmentAnything.Tensors;

namespace SegmentAnything.Imaging;

/// <summary>
/// SAM's <c>Sam.preprocess</c> on the resized image: (pixel − mean) / std per channel in float32,
/// then zero padding at the bottom and right up to a square of the encoder's input size.
/// </summary>
public static class SamPreprocess
{
    public static readonly float[] PixelMean = [123.675f, 116.28f, 103.53f];
    public static readonly float[] PixelStd = [58.395f, 57.12f, 57.375f];

    public static Tensor ToInputTensor(RgbImage resized, int imgSize)
    {
        ArgumentNullException.ThrowIfNull(resized);
        if (resized.Width > imgSize || resized.Height > imgSize)
            throw new ArgumentException($"Resized image {resized.Width}x{resized.Height} exceeds the {imgSize}x{imgSize} encoder input.");
        return Normalize(resized, imgSize, PixelMean, PixelStd);
    }

    /// <summary>
    /// <see cref="ToInputTensor(RgbImage, int)"/> into <paramref name="buffer"/> (3·size·size floats, any
    /// contents: the padding is written as zeros), so a caller encoding many images can reuse one buffer.
    /// </summary>
    public static Tensor ToInputTensor(RgbImage resized, int imgSize, float[] buffer)
    {
        ArgumentNullException.ThrowIfNull(resized);
        ArgumentNullException.ThrowIfNull(buffer);
        if (resized.Width > imgSize || resized.Height > imgSize)
            throw new ArgumentException($"Resized image {resized.Width}x{resized.Height} exceeds the {imgSize}x{imgSize} encoder input.");
        if (buffer.Length != 3L * imgSize * imgSize)
            throw new ArgumentException($"The input buffer holds {buffer.Length} floats; a [3, {imgSize}, {imgSize}] image needs {3L * imgSize * imgSize}.");
        NormalizeInto(resized, imgSize, PixelMean, PixelStd, buffer, zeroPadding: true);
        return new Tensor(buffer, 3, imgSize, imgSize);
    }

    /// <summary>Writes (p − mean) / std for every pixel into a zeroed [3, size, size] tensor.</summary>
    internal static Tensor Normalize(RgbImage image, int size, ReadOnlySpan<float> mean, ReadOnlySpan<float> std)
    {
        var tensor = new Tensor(3, size, size);
        NormalizeInto(image, size, mean, std, tensor.Data, zeroPadding: false);
        return tensor;
    }

    /// <summary>
    /// A 256-entry table per channel gives the exact float32 result of (p − mean) / std for each byte
    /// value. <paramref name="zeroPadding"/>: clear the padding (dst is not already zero).
    /// </summary>
    private static void NormalizeInto(RgbImage image, int size, ReadOnlySpan<float> mean, ReadOnlySpan<float> std, float[] dst, bool zeroPadding)
    {
        var tables = new float[3][];
        for (int c = 0; c < 3; c++)
        {
            tables[c] = new float[256];
            for (int v = 0; v < 256; v++) tables[c][v] = ((float)v - mean[c]) / std[c];
        }
        byte[] px = image.Pixels;
        int w = image.Width, h = image.Height, plane = size * size;
        Parallel.For(0, size, y =>
        {
            int d = y * size;
            if (y >= h)
            {
                if (zeroPadding)
                    for (int c = 0; c < 3; c++) dst.AsSpan(c * plane + d, size).Clear();
                return;
            }
            int s = y * w * 3;
            float[] t0 = tables[0], t1 = tables[1], t2 = tables[2];
            for (int x = 0; x < w; x++, s += 3, d++)
            {
                dst[d] = t0[px[s]];
                dst[plane + d] = t1[px[s + 1]];
                dst[2 * plane + d] = t2[px[s + 2]];
            }
            if (zeroPadding && w < size)
                for (int c = 0; c < 3; c++) dst.AsSpan(c * plane + d, size - w).Clear();
        });
    }
}
