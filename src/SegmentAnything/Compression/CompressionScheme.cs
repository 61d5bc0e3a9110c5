using SegmentAnything.Checkpoints;

namespace SegmentAnything.Compression;

/// <summary>How <see cref="CheckpointCompressor"/> stores the weights it compresses.</summary>
public enum CompressionScheme
{
    /// <summary>Symmetric int8 with one float32 scale per output channel (tensor <c>NAME_scale</c>).</summary>
    Int8,
    Float16,
    BFloat16,
    /// <summary>Everything float32: the uncompressed baseline (e.g. for checkpoints stored in half precision).</summary>
    Float32,
}

public static class CompressionSchemes
{
    /// <summary>Safetensors metadata keys written by the compressor.</summary>
    public const string SchemeKey = "sam.compression";
    public const string ArchitectureKey = "sam.architecture";
    public const string KeptFloatKey = "sam.kept_float";
    public const string KeptDTypeKey = "sam.kept_dtype";
    public const string SourceBytesKey = "sam.source_bytes";
    /// <summary>Suffix of the per-output-channel scale tensor beside each int8 weight.</summary>
    public const string ScaleSuffix = "_scale";

    public static string Name(this CompressionScheme s) => s switch
    {
        CompressionScheme.Int8 => "int8",
        CompressionScheme.Float16 => "fp16",
        CompressionScheme.BFloat16 => "bf16",
        CompressionScheme.Float32 => "fp32",
        _ => throw new ArgumentOutOfRangeException(nameof(s)),
    };

    public static CompressionScheme Parse(string name) => name.ToLowerInvariant() switch
    {
        "int8" => CompressionScheme.Int8,
        "fp16" or "float16" or "half" => CompressionScheme.Float16,
        "bf16" or "bfloat16" => CompressionScheme.BFloat16,
        "fp32" or "float32" => CompressionScheme.Float32,
        _ => throw new ArgumentException($"Unknown compression scheme '{name}' (expected int8, fp16, bf16 or fp32)."),
    };

    internal static DType HalfDType(this CompressionScheme s) => s == CompressionScheme.BFloat16 ? DType.BFloat16 : DType.Float16;
}
