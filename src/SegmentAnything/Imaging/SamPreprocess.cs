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
    /// <see cref="ToInputTensor(RgbImage, int)"/> written into <paramref name="destination"/> ([3, imgSize, imgSize],
    /// any previous content), so that repeated encodes reuse one 12 MB input.
    /// </summary>
    public static void ToInputTensor(RgbImage resized, int imgSize, Tensor destination)
    {
        ArgumentNullException.ThrowIfNull(resized);
        ArgumentNullException.ThrowIfNull(destination);
        if (resized.Width > imgSize || resized.Height > imgSize)
            throw new ArgumentException($"Resized image {resized.Width}x{resized.Height} exceeds the {imgSize}x{imgSize} encoder input.");
        if (destination.Rank != 3 || destination.Shape[0] != 3 || destination.Shape[1] != imgSize || destination.Shape[2] != imgSize)
            throw new ArgumentException($"The destination must be [3, {imgSize}, {imgSize}], got {destination}.");
        Normalize(resized, imgSize, PixelMean, PixelStd, destination.Data, clearPadding: true);
    }

    /// <summary>
    /// Writes (p − mean) / std for every pixel into a zeroed [3, size, size] tensor. A 256-entry table per
    /// channel gives the exact float32 result of that expression for each byte value.
    /// </summary>
    internal static Tensor Normalize(RgbImage image, int size, ReadOnlySpan<float> mean, ReadOnlySpan<float> std)
    {
        var tensor = new Tensor(3, size, size);
        Normalize(image, size, mean, std, tensor.Data, clearPadding: false);
        return tensor;
    }

    private static void Normalize(RgbImage image, int size, ReadOnlySpan<float> mean, ReadOnlySpan<float> std, float[] dst, bool clearPadding)
    {
        var tables = new float[3][];
        for (int c = 0; c < 3; c++)
        {
            tables[c] = new float[256];
            for (int v = 0; v < 256; v++) tables[c][v] = ((float)v - mean[c]) / std[c];
        }
        byte[] px = image.Pixels;
        int w = image.Width, h = image.Height, plane = size * size;
        if (clearPadding)
            for (int c = 0; c < 3; c++)
            {
                for (int y = 0; y < h; y++) dst.AsSpan(c * plane + y * size + w, size - w).Clear();
                dst.AsSpan(c * plane + h * size, (size - h) * size).Clear();
            }
        Parallel.For(0, image.Height, y =>
        {
            int s = y * w * 3, d = y * size;
            float[] t0 = tables[0], t1 = tables[1], t2 = tables[2];
            for (int x = 0; x < w; x++, s += 3, d++)
            {
                dst[d] = t0[px[s]];
                dst[plane + d] = t1[px[s + 1]];
                dst[2 * plane + d] = t2[px[s + 2]];
            }
        });
    }
}
