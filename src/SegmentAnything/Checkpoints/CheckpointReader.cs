namespace SegmentAnything.Checkpoints;

/// <summary>Opens any supported checkpoint format and returns its state dict.</summary>
public static class CheckpointReader
{
    public static StateDict Load(string path)
    {
        if (!File.Exists(path)) throw new CheckpointException($"Checkpoint '{path}' does not exist.");
        Span<byte> magic = stackalloc byte[4];
        int read;
        using (var fs = File.OpenRead(path)) read = fs.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
        if (read >= 4 && magic[0] == 'P' && magic[1] == 'K')
            return TorchZipReader.Load(path);
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
        {
            var st = SafeTensors.Read(path);
            return new StateDict(st.Tensors, path);
        }
        if (read >= 2 && magic[0] == 0x80)
            throw new CheckpointException($"{path}: legacy (non-zip) PyTorch serialization is not supported; re-save it with torch.save(..., _use_new_zipfile_serialization=True).");
        throw new CheckpointException($"{path}: not a PyTorch zip checkpoint or a safetensors file.");
    }
}
