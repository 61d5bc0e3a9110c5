namespace SegmentAnything.Checkpoints;

/// <summary>Opens any supported checkpoint format and returns its state dict.</summary>
public static class CheckpointReader
{
    /// <summary>The whole state dict, read into memory.</summary>
    public static StateDict Load(string path)
    {
        var dict = Open(path);
        foreach (var t in dict.Tensors.Values) _ = t.Floats;
        return dict;
    }

    /// <summary>
    /// The state dict with each tensor left in the file until first used (see <see cref="CheckpointTensor.IsLazy"/>),
    /// so a model can be built one weight at a time; the file must stay in place meanwhile. Formats or records
    /// that cannot be read in place (compressed zip entries, strided views) are read eagerly.
    /// </summary>
    public static StateDict Open(string path)
    {
        if (!File.Exists(path)) throw new CheckpointException($"Checkpoint '{path}' does not exist.");
        Span<byte> head = stackalloc byte[512];
        int read = CheckpointFormat.ReadHead(path, head);
        var kind = CheckpointFormat.Sniff(head[..read]);
        if (kind == CheckpointFormat.Kind.Zip) return TorchZipReader.Open(path);
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
        {
            var st = SafeTensors.Open(path);
            // int8 checkpoints written by `sam compress` are dequantised here; other files pass through unchanged.
            return Compression.CompressedCheckpoint.ToStateDict(st, path);
        }
        throw CheckpointFormat.Unsupported(kind, path);
    }
}
