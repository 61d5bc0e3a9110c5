namespace SegmentAnything.Checkpoints;

/// <summary>Recognises a checkpoint's container from its first bytes.</summary>
internal static class CheckpointFormat
{
    public enum Kind { Zip, LegacyPickle, LegacyTar, Unknown }

    public static Kind Sniff(ReadOnlySpan<byte> head)
    {
        if (head.Length >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] is 3 or 5 or 7 && head[3] is 4 or 6 or 8) return Kind.Zip;
        if (head.Length >= 2 && head[0] == 0x80 && head[1] <= 5) return Kind.LegacyPickle;
        // POSIX tar: "ustar" at offset 257 (torch's pre-1.6 tar format: sys_info, pickle, storages, tensors).
        if (head.Length >= 262 && head.Slice(257, 5).SequenceEqual("ustar"u8)) return Kind.LegacyTar;
        return Kind.Unknown;
    }

    public static CheckpointException Unsupported(Kind kind, string path) => kind switch
    {
        Kind.LegacyPickle => new CheckpointException($"{path}: legacy (non-zip) PyTorch serialization is not supported; re-save it with torch.save(..., _use_new_zipfile_serialization=True)."),
        Kind.LegacyTar => new CheckpointException($"{path}: legacy tar-format PyTorch checkpoint (torch < 0.4) is not supported; re-save it with a current torch.save."),
        _ => new CheckpointException($"{path}: not a PyTorch zip checkpoint or a safetensors file."),
    };

    public static int ReadHead(string path, Span<byte> head)
    {
        try
        {
            using var fs = File.OpenRead(path);
            return fs.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException($"Cannot read checkpoint '{path}': {e.Message}", e);
        }
    }
}
