using SegmentAnything.Checkpoints;

namespace SegmentAnything.Compression;

/// <summary>
/// Which tensors a scheme converts. Tensors whose name contains one of <see cref="KeepFloat"/> stay float32;
/// so do all tensors of rank below 2 (biases, norm parameters, scalars) and integer buffers. Int8 further
/// needs a weight whose first dimension is the output channel and whose fan-in is at least
/// <see cref="MinInt8FanIn"/> (a 3x3 depthwise kernel has 9 values per channel: too few to share a scale).
/// </summary>
/// <param name="KeptAsHalf">Int8 only: store the kept tensors of rank 2 and more as float16 rather than float32
/// (half precision costs these layers nothing measurable, and they dominate small models' files).</param>
public sealed record CompressionPolicy(IReadOnlyList<string> KeepFloat, bool KeptAsHalf = true)
{
    public const int MinInt8FanIn = 16;

    /// <summary>
    /// Layers where quantisation costs the most quality for the least size: the patch embedding (raw pixels
    /// in), the neck (the embedding out), the decoder's output hypernetworks and IoU head (mask weights and
    /// scores), position tables and learned embeddings/tokens, TinyViT attention biases, BatchNorm, and the
    /// transposed-convolution upscaling (its output channel is dimension 1, not 0).
    /// </summary>
    public static readonly IReadOnlyList<string> DefaultInt8KeepFloat =
    [
        "patch_embed", "neck", "output_hypernetworks_mlps", "iou_prediction_head", "output_upscaling", "mask_downscaling",
        "pos_embed", "rel_pos", "pe_layer", "point_embeddings", "not_a_point_embed", "no_mask_embed", "iou_token",
        "mask_tokens", "invalid_points", "bbox_", "attention_biases", "norm", ".bn.",
    ];

    /// <summary>Half precision keeps float32 only where a tensor is tiny or a table feeds sin/cos (the prompt's random Fourier features).</summary>
    public static readonly IReadOnlyList<string> DefaultHalfKeepFloat = ["pe_layer"];

    public static CompressionPolicy Default(CompressionScheme scheme) => scheme switch
    {
        CompressionScheme.Int8 => new(DefaultInt8KeepFloat),
        CompressionScheme.Float32 => new([]),
        _ => new(DefaultHalfKeepFloat),
    };

    /// <summary>Whether an unconverted float tensor goes out as float16 under <see cref="KeptAsHalf"/>.</summary>
    public bool StoresKeptAsHalf(CheckpointTensor t, CompressionScheme scheme) =>
        KeptAsHalf && scheme == CompressionScheme.Int8 && t.DType.IsFloating() && t.Shape.Length >= 2;

    public bool KeepsFloat(string name) => KeepFloat.Any(p => name.Contains(p, StringComparison.Ordinal));

    public bool Converts(string name, CheckpointTensor t, CompressionScheme scheme)
    {
        if (scheme == CompressionScheme.Float32 || !t.DType.IsFloating() || t.Shape.Length < 2 || KeepsFloat(name)) return false;
        if (scheme != CompressionScheme.Int8) return true;
        if (!name.EndsWith(".weight", StringComparison.Ordinal) || t.Shape[0] == 0) return false;
        return t.ElementCount / t.Shape[0] >= MinInt8FanIn;
    }
}
