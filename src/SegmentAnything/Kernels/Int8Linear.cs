using System.Runtime.CompilerServices;

namespace SegmentAnything.Kernels;

/// <summary>How layers whose weights came from an int8 checkpoint run.</summary>
public enum Int8Execution
{
    /// <summary>Dynamic W8A8: activations quantised per token at run time, int8 kernels.</summary>
    Dynamic,
    /// <summary>Weights dequantised once into the float kernels (same speed as float, int8 storage only).</summary>
    WeightOnly,
}

/// <summary>
/// nn.Linear with int8 weights (per-output-channel scales) run by the dynamic W8A8 kernels. Weights loaded
/// from an int8 checkpoint are dequantised for every float consumer; <see cref="Attach"/> remembers their
/// int8 form beside that float array, so <see cref="Linear"/> can switch to this path without any model
/// code knowing about quantisation.
/// </summary>
public sealed class Int8Linear
{
    private static readonly ConditionalWeakTable<float[], Int8Source> _sources = new();

    private sealed record Int8Source(sbyte[] Values, float[] Scales);

    /// <summary>
    /// Execution of attached weights, read when a layer is built. Default: <c>SAM_INT8=weight-only</c> or
    /// <c>dynamic</c> when set, else dynamic wherever a SIMD int8 kernel exists (AVX-VNNI, AVX-512BW, AVX2):
    /// they outrun the float kernels on the encoder's matrix shapes (measured in docs/compression.md).
    /// </summary>
    public static Int8Execution Execution { get; set; } = DefaultExecution();

    private static Int8Execution DefaultExecution() => Environment.GetEnvironmentVariable("SAM_INT8")?.ToLowerInvariant() switch
    {
        "weight-only" or "weightonly" => Int8Execution.WeightOnly,
        "dynamic" => Int8Execution.Dynamic,
        _ => Int8IsaInfo.Best == Int8Isa.Scalar ? Int8Execution.WeightOnly : Int8Execution.Dynamic,
    };

    /// <summary>Records that <paramref name="dequantized"/> is the float image of int8 <paramref name="values"/> [n, k] with row <paramref name="scales"/>.</summary>
    public static void Attach(float[] dequantized, sbyte[] values, float[] scales)
    {
        ArgumentNullException.ThrowIfNull(dequantized);
        if (values.Length != dequantized.Length) throw new ArgumentException("Int8 values and float weights differ in size.");
        _sources.AddOrUpdate(dequantized, new Int8Source(values, scales));
    }

    public static bool IsAttached(float[] weight) => _sources.TryGetValue(weight, out _);

    /// <summary>The int8 layer for a weight array attached by <see cref="Attach"/>, when dynamic execution is on; otherwise null.</summary>
    internal static Int8Linear? ForWeight(float[] weight, int inFeatures, int outFeatures)
    {
        if (Execution != Int8Execution.Dynamic || !_sources.TryGetValue(weight, out var s)) return null;
        if (s.Scales.Length != outFeatures || s.Values.Length != (long)inFeatures * outFeatures) return null;
        return new Int8Linear(new Int8Matrix(s.Values, s.Scales, outFeatures, inFeatures));
    }

    public Int8Matrix Weight { get; }

    public Int8Linear(Int8Matrix weight) => Weight = weight;

    public void Forward(ReadOnlySpan<float> x, int ldx, Span<float> y, int ldy, int rows, float[]? bias, bool accumulate) =>
        Int8Gemm.MatMul(x, ldx, rows, Weight, y, ldy, accumulate ? default : bias, accumulate);
}
