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

    /// <summary>A "segment everything" run taking longer is cancelled and answered 503.</summary>
    public TimeSpan EverythingTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Upper bound on a request's points_per_side (the official default is 32).</summary>
    public int MaxPointsPerSide { get; init; } = 64;

    /// <summary>Upper bound on a request's crop_n_layers (each layer adds encoder runs on crops).</summary>
    public int MaxCropLayers { get; init; } = 2;

    public static string DefaultDatabase(string imagesFolder) => Path.Combine(imagesFolder, ".sam", "annotations.db");

    public string ResolvedEmbeddingFolder =>
        EmbeddingCacheFolder ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(DatabasePath))!, Path.GetFileNameWithoutExtension(DatabasePath) + ".embeddings");
}
