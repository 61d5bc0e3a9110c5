using System.Buffers.Binary;
using System.Text;
using SegmentAnything.Imaging;
using SkiaSharp;

namespace SegmentAnything.Tests.Imaging;

public sealed class ImageIOTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sam-imageio-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void PngRoundTripsExactly()
    {
        var img = new RgbImage(17, 11);
        new Random(1).NextBytes(img.Pixels);
        string path = Path.Combine(_dir, "a.png");
        ImageIO.SavePng(img, path);
        var back = ImageIO.Load(path);
        Assert.Equal((17, 11), (back.Width, back.Height));
        Assert.Equal(img.Pixels, back.Pixels);
    }

    [Fact]
    public void MaskPngIsGreyZeroOr255()
    {
        bool[] mask = [true, false, false, true, true, false];
        string path = Path.Combine(_dir, "m.png");
        ImageIO.SaveMaskPng(mask, 3, 2, path);
        using var codec = SKCodec.Create(path);
        Assert.Equal(SKColorType.Gray8, codec.Info.ColorType);
        var back = ImageIO.Load(path);
        for (int i = 0; i < mask.Length; i++)
            Assert.Equal(mask[i] ? 255 : 0, back.Pixels[i * 3]);
        ImageIO.SaveMaskPng(new byte[] { 0, 7, 0, 1, 0, 0 }, 3, 2, path);
        Assert.Equal(255, ImageIO.Load(path).Pixels[3]);
        Assert.Throws<ArgumentException>(() => ImageIO.SaveMaskPng(mask, 4, 2, path));
    }

    [Fact]
    public void JpegDecodes()
    {
        var img = new RgbImage(16, 8);
        for (int i = 0; i < img.Pixels.Length; i += 3) (img.Pixels[i], img.Pixels[i + 1], img.Pixels[i + 2]) = (200, 100, 50);
        string path = Path.Combine(_dir, "a.jpg");
        using (var bmp = new SKBitmap(16, 8))
        {
            bmp.Erase(new SKColor(200, 100, 50));
            using var data = bmp.Encode(SKEncodedImageFormat.Jpeg, 95);
            File.WriteAllBytes(path, data.ToArray());
        }
        var back = ImageIO.Load(path);
        Assert.Equal((16, 8), (back.Width, back.Height));
        for (int i = 0; i < img.Pixels.Length; i++) Assert.InRange(back.Pixels[i] - img.Pixels[i], -4, 4);
    }

    [Fact]
    public void MissingCorruptAndTruncatedFilesGiveImageException()
    {
        string missing = Path.Combine(_dir, "nope.png");
        Assert.Contains(missing, Assert.Throws<ImageException>(() => ImageIO.Load(missing)).Message);

        string garbage = Path.Combine(_dir, "garbage.png");
        File.WriteAllBytes(garbage, Encoding.ASCII.GetBytes("this is not an image at all"));
        Assert.Contains(garbage, Assert.Throws<ImageException>(() => ImageIO.Load(garbage)).Message);

        string empty = Path.Combine(_dir, "empty.png");
        File.WriteAllBytes(empty, []);
        Assert.Throws<ImageException>(() => ImageIO.Load(empty));

        var img = new RgbImage(64, 64);
        new Random(2).NextBytes(img.Pixels);
        string full = Path.Combine(_dir, "full.png");
        ImageIO.SavePng(img, full);
        byte[] bytes = File.ReadAllBytes(full);
        string cut = Path.Combine(_dir, "cut.png");
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);
        Assert.Throws<ImageException>(() => ImageIO.Load(cut));

        Assert.Throws<ImageException>(() => ImageIO.Load(_dir));
    }

    [Fact]
    public void RefusesDecompressionBombsBeforeDecoding()
    {
        // A valid PNG header announcing 20000 x 20000 pixels and a few bytes of compressed data.
        string path = Path.Combine(_dir, "bomb.png");
        File.WriteAllBytes(path, PngHeaderOnly(20000, 20000));
        var e = Assert.Throws<ImageException>(() => ImageIO.Load(path));
        Assert.Contains("20000x20000", e.Message);
    }

    [Fact]
    public void ExifOrientationTransformsAreConsistent()
    {
        var img = new RgbImage(3, 2);
        for (int i = 0; i < 6; i++) img.Pixels[i * 3] = (byte)i; // red channel = row-major index
        byte[] Red(RgbImage r) => Enumerable.Range(0, r.Width * r.Height).Select(i => r.Pixels[i * 3]).ToArray();
        Assert.Equal(new byte[] { 2, 1, 0, 5, 4, 3 }, Red(Orientation.Apply(img, 2)));
        Assert.Equal(new byte[] { 5, 4, 3, 2, 1, 0 }, Red(Orientation.Apply(img, 3)));
        Assert.Equal(new byte[] { 3, 4, 5, 0, 1, 2 }, Red(Orientation.Apply(img, 4)));
        Assert.Equal(new byte[] { 0, 3, 1, 4, 2, 5 }, Red(Orientation.Apply(img, 5)));
        Assert.Equal(new byte[] { 3, 0, 4, 1, 5, 2 }, Red(Orientation.Apply(img, 6)));
        Assert.Equal(new byte[] { 5, 2, 4, 1, 3, 0 }, Red(Orientation.Apply(img, 7)));
        Assert.Equal(new byte[] { 2, 5, 1, 4, 0, 3 }, Red(Orientation.Apply(img, 8)));
        Assert.Same(img, Orientation.Apply(img, 1));
    }

    private static byte[] PngHeaderOnly(int width, int height)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; // bit depth
        ihdr[9] = 2; // truecolour
        var ms = new MemoryStream();
        ms.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 13, 10, 26, 10]);
        WriteChunk(ms, "IHDR", ihdr);
        WriteChunk(ms, "IDAT", [0x78, 0x9c, 0xed, 0xc1, 0x01, 0x0d, 0x00, 0x00]);
        WriteChunk(ms, "IEND", []);
        return ms.ToArray();
    }

    private static void WriteChunk(Stream s, string type, byte[] data)
    {
        Span<byte> len = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(len, data.Length);
        s.Write(len);
        byte[] typed = [.. Encoding.ASCII.GetBytes(type), .. data];
        s.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(len, Crc32(typed));
        s.Write(len);
    }

    private static uint Crc32(byte[] bytes)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return ~crc;
    }
}
