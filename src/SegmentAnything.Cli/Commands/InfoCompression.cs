using SegmentAnything.Compression;

namespace SegmentAnything.Cli.Commands;

/// <summary>The compression lines of <c>sam info</c>: scheme, file size against the source, bytes per stored dtype.</summary>
internal static class InfoCompression
{
    public static void Print(string file)
    {
        Console.WriteLine($"file size:     {new FileInfo(file).Length:N0} bytes");
        if (CompressedCheckpoint.Describe(file) is not { } c) return;
        string ratio = c.SourceBytes is > 0 ? $" ({(double)c.FileBytes / c.SourceBytes.Value:P1} of the {c.SourceBytes.Value:N0}-byte source)" : "";
        Console.WriteLine($"compression:   {c.Scheme}{ratio}");
        Console.WriteLine($"kept float:    {(string.IsNullOrEmpty(c.KeptFloat) ? "(none)" : c.KeptFloat)}");
        foreach (var (dtype, bytes) in c.BytesPerDType)
            Console.WriteLine($"  {dtype.ToLowerInvariant() + " bytes:",-22} {bytes,14:N0}");
    }
}
