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
        ArgumentNullException.ThrowIfNull(image);
        int h = image.Height, w = image.Width, plane = h * w;
        var planes = new float[3 * plane];
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
        // The official code skips the interpolation when the image is already 1024 x 1024.
        float[] data = h == ImageSize && w == ImageSize
            ? planes
            : TorchResize.Bilinear(planes, 3, h, w, ImageSize, ImageSize);
        int outPlane = ImageSize * ImageSize;
        Parallel.For(0, 3, c =>
        {
            float m = PixelMean[c], s = PixelStd[c];
            var span = data.AsSpan(c * outPlane, outPlane);
            for (int i = 0; i < span.Length; i++) span[i] = (span[i] - m) / s;
        });
        return new Tensor(data, 3, ImageSize, ImageSize);
    }
}
