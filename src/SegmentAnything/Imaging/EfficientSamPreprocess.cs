using System.Buffers;
using SegmentAnything.Tensors;

namespace SegmentAnything.Imaging;

/// <summary>
/// EfficientSAM's input: the image as floats in 0..1 (torchvision <c>ToTensor</c>: byte / 255), stretched
/// to 1024 × 1024 with <c>F.interpolate(mode="bilinear")</c> (no antialiasing, aspect ratio not kept),
/// then normalised with the ImageNet mean and std.
/// </summary>
public static class EfficientSamPreprocess
{
    public const int ImageSize = 1024;
    public static readonly float[] PixelMean = [0.485f, 0.456f, 0.406f];
    public static readonly float[] PixelStd = [0.229f, 0.224f, 0.225f];

    public static Tensor ToInputTensor(RgbImage image)
    {
        var tensor = new Tensor(3, ImageSize, ImageSize);
        ToInputTensor(image, tensor);
        return tensor;
    }

    /// <summary>
    /// <see cref="ToInputTensor(RgbImage)"/> into <paramref name="destination"/> ([3, 1024, 1024], overwritten whole),
    /// with the unresized planes in a rented buffer: repeated encodes allocate no image-sized arrays of their own.
    /// </summary>
    public static void ToInputTensor(RgbImage image, Tensor destination)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(destination);
        if (destination.Rank != 3 || destination.Shape[0] != 3 || destination.Shape[1] != ImageSize || destination.Shape[2] != ImageSize)
            throw new ArgumentException($"The destination must be [3, {ImageSize}, {ImageSize}], got {destination}.");
        int h = image.Height, w = image.Width, plane = h * w;
        // The official code skips the interpolation when the image is already 1024 x 1024.
        bool direct = h == ImageSize && w == ImageSize;
        float[] data = destination.Data;
        float[] planes = direct ? data : ArrayPool<float>.Shared.Rent(checked(3 * plane));
        try
        {
            byte[] px = image.Pixels;
            Parallel.For(0, h, y =>
            {
                for (int x = 0, s = y * w * 3, d = y * w; x < w; x++, s += 3, d++)
                {
                    planes[d] = px[s] / 255f;
                    planes[plane + d] = px[s + 1] / 255f;
                    planes[2 * plane + d] = px[s + 2] / 255f;
                }
            });
            if (!direct) TorchResize.Bilinear(planes.AsSpan(0, 3 * plane), 3, h, w, data, ImageSize, ImageSize);
        }
        finally
        {
            if (!direct) ArrayPool<float>.Shared.Return(planes);
        }
        int outPlane = ImageSize * ImageSize;
        Parallel.For(0, 3, c =>
        {
            float m = PixelMean[c], s = PixelStd[c];
            var span = data.AsSpan(c * outPlane, outPlane);
            var vectors = System.Runtime.InteropServices.MemoryMarshal.Cast<float, System.Numerics.Vector<float>>(span);
            var vm = new System.Numerics.Vector<float>(m);
            var vs = new System.Numerics.Vector<float>(s);
            for (int i = 0; i < vectors.Length; i++) vectors[i] = (vectors[i] - vm) / vs;
            for (int i = vectors.Length * System.Numerics.Vector<float>.Count; i < span.Length; i++) span[i] = (span[i] - m) / s;
        });
    }
}
