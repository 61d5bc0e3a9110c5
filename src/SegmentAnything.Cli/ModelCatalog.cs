using System.IO.Compression;
using System.Security.Cryptography;

namespace SegmentAnything.Cli;

/// <summary>
/// The official checkpoints that <c>--model NAME</c> resolves to: a cached file under
/// <c>SAM_HOME</c> (default <c>~/.cache/segment-anything</c>), downloaded from the official URL when absent.
/// </summary>
public static class ModelCatalog
{
    /// <param name="Sha256Prefix">Meta names its SAM files after the start of their SHA-256; checked after download.</param>
    public sealed record Entry(string Name, string FileName, string Url, string? Sha256Prefix, bool Zipped = false);

    public static readonly IReadOnlyList<Entry> Entries =
    [
        new("vit_b", "sam_vit_b_01ec64.pth", "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth", "01ec64"),
        new("vit_l", "sam_vit_l_0b3195.pth", "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth", "0b3195"),
        new("vit_h", "sam_vit_h_4b8939.pth", "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth", "4b8939"),
        new("mobile_sam", "mobile_sam.pt", "https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt", null),
        new("efficient_sam_vitt", "efficient_sam_vitt.pt", "https://github.com/yformer/EfficientSAM/raw/main/weights/efficient_sam_vitt.pt", null),
        new("efficient_sam_vits", "efficient_sam_vits.pt", "https://github.com/yformer/EfficientSAM/raw/main/weights/efficient_sam_vits.pt.zip", null, Zipped: true),
    ];

    public static string CacheDirectory =>
        Environment.GetEnvironmentVariable("SAM_HOME") is { Length: > 0 } home
            ? home
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "segment-anything");

    public static Entry Find(string name) =>
        Entries.FirstOrDefault(e => e.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
        ?? throw new CliException($"unknown model '{name}'; choose one of {string.Join(", ", Entries.Select(e => e.Name))}");

    /// <summary>The local path of <paramref name="name"/>, downloading it first if needed.</summary>
    public static string Resolve(string name)
    {
        var entry = Find(name);
        string path = Path.Combine(CacheDirectory, entry.FileName);
        if (File.Exists(path)) return path;
        try
        {
            Directory.CreateDirectory(CacheDirectory);
            Download(entry, path);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException or UnauthorizedAccessException or InvalidDataException)
        {
            throw new CliException($"model '{name}' is not cached and could not be downloaded ({e.Message.ReplaceLineEndings(" ")}); download {entry.Url} and place it at {path}");
        }
        return path;
    }

    private static void Download(Entry entry, string path)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(60) };
        using var response = http.GetAsync(entry.Url, HttpCompletionOption.ResponseHeadersRead).GetAwaiter().GetResult();
        response.EnsureSuccessStatusCode();
        long? total = response.Content.Headers.ContentLength;
        string tmp = path + ".part";
        using (var src = response.Content.ReadAsStream())
        using (var dst = File.Create(tmp))
        {
            var buffer = new byte[1 << 20];
            long done = 0;
            int read;
            var progress = new ProgressBar($"downloading {entry.FileName}", total);
            while ((read = src.Read(buffer)) > 0)
            {
                dst.Write(buffer, 0, read);
                done += read;
                progress.Report(done);
            }
            progress.Done();
            if (total is long t && done != t) throw new IOException($"download ended after {done} of {t} bytes");
        }
        if (entry.Zipped) ExtractSingle(tmp, path);
        else File.Move(tmp, path, overwrite: true);
        if (entry.Sha256Prefix is string prefix)
        {
            string hash;
            using (var fs = File.OpenRead(path)) hash = Convert.ToHexStringLower(SHA256.HashData(fs));
            if (!hash.StartsWith(prefix, StringComparison.Ordinal))
            {
                File.Delete(path);
                throw new IOException($"SHA-256 {hash[..12]}... of the download does not start with {prefix}");
            }
        }
    }

    private static void ExtractSingle(string zipPath, string path)
    {
        using (var zip = ZipFile.OpenRead(zipPath))
        {
            var entry = zip.Entries.FirstOrDefault(e => e.Name.EndsWith(".pt", StringComparison.Ordinal))
                ?? throw new InvalidDataException("the downloaded archive holds no .pt file");
            entry.ExtractToFile(path + ".tmp", overwrite: true);
        }
        File.Move(path + ".tmp", path, overwrite: true);
        File.Delete(zipPath);
    }
}
