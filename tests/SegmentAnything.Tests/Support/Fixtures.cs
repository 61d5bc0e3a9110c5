using System.Text.Json;
using SegmentAnything.Checkpoints;

namespace SegmentAnything.Tests.Support;

/// <summary>
/// Locates the shared parity fixtures: <c>SAM_FIXTURES</c>, else <c>../shared/fixtures</c> beside the
/// repository root. Locally a missing fixture skips the test; under <c>CI=true</c> it fails it.
/// </summary>
public static class Fixtures
{
    private static readonly Lazy<string?> _root = new(FindRoot);
    private static readonly Dictionary<string, SafeTensorsFile> _references = new();

    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "SegmentAnything.slnx"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("Repository root not found above " + AppContext.BaseDirectory);
        }
    }

    private static string? FindRoot()
    {
        string? env = Environment.GetEnvironmentVariable("SAM_FIXTURES");
        string path = !string.IsNullOrEmpty(env) ? env : Path.Combine(RepoRoot, "..", "shared", "fixtures");
        return Directory.Exists(path) ? Path.GetFullPath(path) : null;
    }

    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>The full path of a fixture file; skips (locally) or fails (CI) when it is absent.</summary>
    public static string Path_(string relative)
    {
        string? root = _root.Value;
        string? full = root is null ? null : Path.Combine(root, relative);
        if (full is null || !(File.Exists(full) || Directory.Exists(full)))
        {
            string msg = $"Fixture '{relative}' not found (set SAM_FIXTURES or place ../shared/fixtures beside the repository).";
            if (IsCi) throw new InvalidOperationException(msg);
            Skip.If(true, msg);
        }
        return full!;
    }

    public static string File_(string relative) => Path_(relative);

    public static JsonElement Manifest => JsonDocument.Parse(File.ReadAllText(Path_("manifest.json"))).RootElement;

    public static SafeTensorsFile Reference(string model)
    {
        lock (_references)
        {
            if (!_references.TryGetValue(model, out var f))
                _references[model] = f = SafeTensors.Read(Path_($"reference/{model}.safetensors"));
            return f;
        }
    }
}
