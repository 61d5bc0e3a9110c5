namespace SegmentAnything.Server;

/// <summary>What <c>sam serve</c> was asked for. Port 0 picks a free port.</summary>
public sealed record ServerOptions(string ImagesFolder, string DatabasePath, int Port = 8765)
{
    /// <summary>Largest accepted request body (image uploads); larger ones get 413.</summary>
    public long MaxUploadBytes { get; init; } = 32L << 20;

    /// <summary>Embeddings on disk; by default beside the database (never inside a read-only images folder).</summary>
    public string? EmbeddingCacheFolder { get; init; }

    public int MemoryCacheEntries { get; init; } = 16;

    /// <summary>Encode the previous and next image in the background after one is opened.</summary>
    public bool PrefetchNeighbours { get; init; } = true;

    public static string DefaultDatabase(string imagesFolder) => Path.Combine(imagesFolder, ".sam", "annotations.db");

    public string ResolvedEmbeddingFolder =>
        EmbeddingCacheFolder ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(DatabasePath))!, Path.GetFileNameWithoutExtension(DatabasePath) + ".embeddings");
}
