namespace SegmentAnything.Checkpoints;

/// <summary>Element types a checkpoint may store. Floating types are widened to float32 on load.</summary>
public enum DType
{
    Float32,
    Float16,
    BFloat16,
    Float64,
    Int64,
    Int32,
    Int16,
    Int8,
    UInt8,
    Bool,
}

public static class DTypeInfo
{
    public static int Size(this DType t) => t switch
    {
        DType.Float32 or DType.Int32 => 4,
        DType.Float16 or DType.BFloat16 or DType.Int16 => 2,
        DType.Float64 or DType.Int64 => 8,
        _ => 1,
    };

    public static bool IsFloating(this DType t) => t is DType.Float32 or DType.Float16 or DType.BFloat16 or DType.Float64;

    /// <summary>The safetensors spelling of a dtype.</summary>
    public static string SafetensorsName(this DType t) => t switch
    {
        DType.Float32 => "F32", DType.Float16 => "F16", DType.BFloat16 => "BF16", DType.Float64 => "F64",
        DType.Int64 => "I64", DType.Int32 => "I32", DType.Int16 => "I16", DType.Int8 => "I8",
        DType.UInt8 => "U8", _ => "BOOL",
    };

    public static DType? FromSafetensorsName(string s) => s switch
    {
        "F32" => DType.Float32, "F16" => DType.Float16, "BF16" => DType.BFloat16, "F64" => DType.Float64,
        "I64" => DType.Int64, "I32" => DType.Int32, "I16" => DType.Int16, "I8" => DType.Int8,
        "U8" => DType.UInt8, "BOOL" => DType.Bool, _ => null,
    };
}
