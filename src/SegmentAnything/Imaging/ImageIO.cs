using System.Runtime.InteropServices;
using SkiaSharp;

namespace SegmentAnything.Imaging;

/// <summary>
/// Decodes and encodes images with SkiaSharp. Decoding gives the raw stored colours as RGB: alpha is
/// dropped without compositing and no colour-profile conversion is applied (as PIL's <c>convert("RGB")</c>).
/// EXIF orientation is ignored unless asked for, as PIL's <c>Image.open</c> does; OpenCV's
/// <c>cv2.imread</c> (used by the official notebooks) applies it, so pass
/// <c>applyExifOrientation: true</c> to match that.
/// </summary>
public static class ImageIO
{
    /// <summary>Refuse images above this many pixels before decoding them (decompression bombs).</summary>
    public const long MaxPixels = 100_000_000;

    /// <summary>Refuse files larger than this before reading them.</summary>
    public const long MaxFileBytes = 1L << 30;

    public static RgbImage Load(string path, bool applyExifOrientation = false)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes;
        try
        {
            var file = new FileInfo(path);
            if (!file.Exists) throw new ImageException($"Image file '{path}' does not exist.");
            if (file.Length > MaxFileBytes) throw new ImageException($"Image file '{path}' is {file.Length} bytes, more than the {MaxFileBytes} allowed.");
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new ImageException($"Cannot read image file '{path}': {e.Message}", e);
        }
        return Decode(bytes, path, applyExifOrientation);
    }

    /// <summary>Decodes an encoded image (PNG, JPEG, WebP, BMP, GIF, ...); <paramref name="name"/> is used in error messages.</summary>
    public static RgbImage Decode(byte[] encoded, string name = "image", bool applyExifOrientation = false)
    {
        ArgumentNullException.ThrowIfNull(encoded);
        if (encoded.Length == 0) throw new ImageException($"Image '{name}' is empty.");
        using var data = SKData.CreateCopy(encoded);
        using var codec = SKCodec.Create(data)
            ?? throw new ImageException($"Image '{name}' is not in a recognised image format or is corrupt.");
        int width = codec.Info.Width, height = codec.Info.Height;
        if (width <= 0 || height <= 0) throw new ImageException($"Image '{name}' has an invalid size {width}x{height}.");
        if ((long)width * height > MaxPixels)
            throw new ImageException($"Image '{name}' is {width}x{height} ({(long)width * height} pixels), more than the {MaxPixels} allowed.");

        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var rgba = new byte[(long)width * height * 4];
        SKCodecResult result;
        unsafe
        {
            fixed (byte* p = rgba) result = codec.GetPixels(info, (IntPtr)p);
        }
        if (result != SKCodecResult.Success)
            throw new ImageException($"Image '{name}' could not be decoded ({result}); the file is truncated or corrupt.");

        var image = new RgbImage(width, height);
        DropAlpha(rgba, image.Pixels);
        return applyExifOrientation ? Orientation.Apply(image, (int)codec.EncodedOrigin) : image;
    }

    public static void SavePng(RgbImage image, string path)
    {
        ArgumentNullException.ThrowIfNull(image);
        var rgba = new byte[(long)image.Width * image.Height * 4];
        var src = image.Pixels;
        for (int i = 0, j = 0; i < src.Length; i += 3, j += 4)
        {
            rgba[j] = src[i];
            rgba[j + 1] = src[i + 1];
            rgba[j + 2] = src[i + 2];
            rgba[j + 3] = 255;
        }
        Encode(new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Opaque), rgba, path);
    }

    /// <summary>Writes a mask as an 8-bit greyscale PNG, 255 where set, 0 elsewhere.</summary>
    public static void SaveMaskPng(ReadOnlySpan<bool> mask, int width, int height, string path)
    {
        CheckMaskSize(mask.Length, width, height);
        var grey = new byte[mask.Length];
        for (int i = 0; i < grey.Length; i++) grey[i] = mask[i] ? (byte)255 : (byte)0;
        Encode(new SKImageInfo(width, height, SKColorType.Gray8, SKAlphaType.Opaque), grey, path);
    }

    /// <summary>Writes a mask as an 8-bit greyscale PNG, 255 where the byte is non-zero, 0 elsewhere.</summary>
    public static void SaveMaskPng(ReadOnlySpan<byte> mask, int width, int height, string path)
    {
        CheckMaskSize(mask.Length, width, height);
        var grey = new byte[mask.Length];
        for (int i = 0; i < grey.Length; i++) grey[i] = mask[i] != 0 ? (byte)255 : (byte)0;
        Encode(new SKImageInfo(width, height, SKColorType.Gray8, SKAlphaType.Opaque), grey, path);
    }

    private static void CheckMaskSize(int length, int width, int height)
    {
        if (width <= 0 || height <= 0 || (long)width * height != length)
            throw new ArgumentException($"Mask of {length} values does not match {width}x{height}.");
    }

    private static void DropAlpha(byte[] rgba, byte[] rgb)
    {
        // Little-endian RGBA read as one uint per pixel: R is the low byte.
        var src = MemoryMarshal.Cast<byte, uint>(rgba);
        for (int i = 0, o = 0; i < src.Length; i++, o += 3)
        {
            uint v = src[i];
            rgb[o] = (byte)v;
            rgb[o + 1] = (byte)(v >> 8);
            rgb[o + 2] = (byte)(v >> 16);
        }
    }

    private static void Encode(SKImageInfo info, byte[] pixels, string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        SKData? encoded;
        unsafe
        {
            fixed (byte* p = pixels)
            {
                using var pixmap = new SKPixmap(info, (IntPtr)p, info.RowBytes);
                encoded = pixmap.Encode(SKEncodedImageFormat.Png, 100);
            }
        }
        if (encoded is null) throw new ImageException($"Could not encode PNG for '{path}'.");
        using (encoded)
        {
            try
            {
                using var stream = File.Create(path);
                encoded.SaveTo(stream);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
            {
                throw new ImageException($"Cannot write image file '{path}': {e.Message}", e);
            }
        }
    }
}
