namespace SegmentAnything.Imaging;

/// <summary>An 8-bit RGB image, pixels interleaved and row-major (HWC), as numpy/PIL hand it to SAM.</summary>
public sealed class RgbImage
{
    public int Width { get; }
    public int Height { get; }
    public byte[] Pixels { get; }

    public RgbImage(int width, int height) : this(width, height, new byte[CheckedSize(width, height)]) { }

    public RgbImage(int width, int height, byte[] pixels)
    {
        long size = CheckedSize(width, height);
        ArgumentNullException.ThrowIfNull(pixels);
        if (pixels.Length != size)
            throw new ArgumentException($"Pixel buffer of {pixels.Length} bytes does not match {width}x{height} RGB ({size} bytes).");
        Width = width;
        Height = height;
        Pixels = pixels;
    }

    public int Stride => Width * 3;

    public Span<byte> Row(int y) => Pixels.AsSpan(y * Stride, Stride);

    public RgbImage Clone() => new(Width, Height, (byte[])Pixels.Clone());

    public override string ToString() => $"RgbImage {Width}x{Height}";

    private static int CheckedSize(int width, int height)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"Image size {width}x{height} must be positive.");
        long size = (long)width * height * 3;
        if (size > Array.MaxLength) throw new ArgumentException($"Image size {width}x{height} is too large.");
        return (int)size;
    }
}
