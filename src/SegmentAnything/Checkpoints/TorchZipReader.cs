namespace SegmentAnything.Checkpoints;

/// <summary>PyTorch zip checkpoints (<c>archive/data.pkl</c> + <c>archive/data/N</c>). Placeholder, to be replaced by the real reader.</summary>
public static class TorchZipReader
{
    public static StateDict Load(string path) => throw new CheckpointException($"{path}: PyTorch zip reading not implemented yet.");
}
