using SegmentAnything.Checkpoints;
using SegmentAnything.Tensors;

namespace SegmentAnything;

/// <summary>
/// The image encoder's output for one image, with the sizes the prompts and masks are mapped
/// through. Saved as safetensors (<c>embedding</c> f32 [1,C,h,w], <c>image_hw</c> and
/// <c>input_hw</c> i64 [2], the architecture in the metadata) so later prompts need no encoder run.
/// </summary>
public sealed class ImageEmbedding
{
    public const string ArchitectureKey = "architecture";

    public Tensor Embedding { get; }
    public (int H, int W) OriginalSize { get; }
    public (int H, int W) InputSize { get; }

    /// <summary>The architecture that produced it, or null for files without that metadata.</summary>
    public string? Architecture { get; }

    public ImageEmbedding(Tensor embedding, (int H, int W) originalSize, (int H, int W) inputSize, string? architecture)
    {
        if (embedding.Rank != 3) throw new ArgumentException($"Embedding must be [C, h, w], got {embedding}.");
        (Embedding, OriginalSize, InputSize, Architecture) = (embedding, originalSize, inputSize, architecture);
    }

    public void Save(string path)
    {
        var tensors = new Dictionary<string, CheckpointTensor>
        {
            ["embedding"] = CheckpointTensor.FromFloats(Embedding.Data, [1, .. Embedding.Shape]),
            ["image_hw"] = CheckpointTensor.FromInt64([OriginalSize.H, OriginalSize.W], 2),
            ["input_hw"] = CheckpointTensor.FromInt64([InputSize.H, InputSize.W], 2),
        };
        var meta = new Dictionary<string, string>();
        if (Architecture is not null) meta[ArchitectureKey] = Architecture;
        SafeTensors.Write(path, tensors, meta);
    }

    /// <summary>
    /// Reads an embedding file. <c>input_hw</c> may be absent (EfficientSAM stretches the whole
    /// image, so it has no resized frame); then it is taken as <paramref name="defaultInputSize"/>.
    /// </summary>
    public static ImageEmbedding Load(string path)
    {
        var f = SafeTensors.Read(path);
        if (!f.Tensors.TryGetValue("embedding", out var e) || e.Shape.Length != 4 || e.Shape[0] != 1)
            throw new CheckpointException($"{path}: no 'embedding' tensor of shape [1, C, h, w].");
        var imageHw = ReadHw(f, "image_hw", path) ?? throw new CheckpointException($"{path}: no 'image_hw' tensor (int64 [2]).");
        var inputHw = ReadHw(f, "input_hw", path) ?? (0, 0);
        f.Metadata.TryGetValue(ArchitectureKey, out string? arch);
        return new ImageEmbedding(new Tensor(e.Floats, e.Shape[1], e.Shape[2], e.Shape[3]), imageHw, inputHw, arch);
    }

    private static (int H, int W)? ReadHw(SafeTensorsFile f, string name, string path)
    {
        if (!f.Tensors.TryGetValue(name, out var t)) return null;
        if (t.Integers is not { Length: 2 } v || v[0] <= 0 || v[1] <= 0 || v[0] > 1 << 16 || v[1] > 1 << 16)
            throw new CheckpointException($"{path}: '{name}' must hold two positive integers.");
        return ((int)v[0], (int)v[1]);
    }
}
