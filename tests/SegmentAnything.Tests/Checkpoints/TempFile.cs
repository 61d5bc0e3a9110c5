namespace SegmentAnything.Tests.Checkpoints;

/// <summary>A unique temporary file path, deleted on dispose.</summary>
public sealed class TempFile : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"ckpt-{Guid.NewGuid():N}.pt");

    public void Dispose()
    {
        if (File.Exists(Path)) File.Delete(Path);
    }
}
