namespace SegmentAnything.Checkpoints;

/// <summary>Opens any supported checkpoint format and returns its state dict.</summary>
public static class CheckpointReader
{
    public static StateDict Load(string path)
    {
        if (!File.Exists(path)) throw new CheckpointException($"Checkpoint '{path}' does not exist.");
        Span<byte> head = stackalloc byte[512];
        int read = CheckpointFormat.ReadHead(path, head);
        var kind = CheckpointFormat.Sniff(head[..read]);
        if (kind == CheckpointFormat.Kind.Zip) return TorchZipReader.Load(path);
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
        {
            var st = SafeTensors.Read(path);
            // int8 checkpoints written by `sam compress` are dequantised here; other files pass through unchanged.
            return Compression.CompressedCheckpoint.ToStateDict(st, path);
        }
        throw CheckpointFormat.Unsupported(kind, path);
    }
}
