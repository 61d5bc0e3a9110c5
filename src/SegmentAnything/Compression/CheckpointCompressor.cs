using System.Globalization;
using System.Runtime.InteropServices;
using SegmentAnything.Checkpoints;
using SegmentAnything.Kernels;

namespace SegmentAnything.Compression;

/// <summary>What a compression run wrote.</summary>
public sealed record CompressionReport(string Architecture, CompressionScheme Scheme, long SourceBytes, long OutputBytes,
    int ConvertedTensors, int FloatTensors, long ConvertedElements, long FloatElements)
{
    public double Ratio => SourceBytes == 0 ? 0 : (double)OutputBytes / SourceBytes;
}

/// <summary>
/// Writes any loadable SAM / MobileSAM / EfficientSAM checkpoint as a compressed safetensors file that
/// <see cref="SamModel.Load(string)"/> reads back: int8 weights with a float32 scale per output channel, or
/// half-precision weights; the scheme, architecture and kept-float patterns go into the metadata.
/// </summary>
public static class CheckpointCompressor
{
    public static CompressionReport Compress(string input, string output, CompressionScheme scheme, CompressionPolicy? policy = null)
    {
        var dict = CheckpointReader.Open(input);
        if (CompressedCheckpoint.SchemeOf(input) is { } existing)
            throw new CheckpointException($"{input}: already compressed ({existing}); compress the original float checkpoint instead.");
        // Binding the model first proves the checkpoint is complete and names its architecture for the metadata.
        string architecture = SamModel.FromStateDict(dict).Architecture;
        return Compress(dict, architecture, new FileInfo(input).Length, output, scheme, policy ?? CompressionPolicy.Default(scheme));
    }

    public static CompressionReport Compress(StateDict dict, string architecture, long sourceBytes, string output, CompressionScheme scheme, CompressionPolicy policy)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Writing safetensors needs a little-endian host.");
        // Plan every output tensor first (the header needs only names, dtypes and shapes), then convert and
        // write them one at a time: a lazy state dict is read a tensor at a time and nothing accumulates.
        var plan = new List<(string Name, DType DType, int[] Shape, Action<Stream> Write)>();
        int converted = 0, kept = 0;
        long convertedElements = 0, keptElements = 0;
        foreach (var (name, t) in dict.Tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (name.EndsWith(CompressionSchemes.ScaleSuffix, StringComparison.Ordinal) && scheme == CompressionScheme.Int8)
                throw new CheckpointException($"{dict.Source}: tensor '{name}' would collide with the int8 scale naming.");
            if (policy.Converts(name, t, scheme))
            {
                converted++;
                convertedElements += t.ElementCount;
                if (scheme == CompressionScheme.Int8)
                {
                    int n = t.Shape[0];
                    float[]? scales = null;
                    plan.Add((name, DType.Int8, t.Shape, s =>
                    {
                        var (values, sc) = Int8Quantize.Weights(WithFloats(t), n, (int)(t.ElementCount / n));
                        scales = sc;
                        s.Write(MemoryMarshal.AsBytes(values.AsSpan()));
                    }));
                    plan.Add((name + CompressionSchemes.ScaleSuffix, DType.Float32, [n], s => s.Write(MemoryMarshal.AsBytes(scales!.AsSpan()))));
                }
                else plan.Add((name, scheme.HalfDType(), t.Shape, s => s.Write(ToHalfBytes(WithFloats(t), scheme))));
                continue;
            }
            if (policy.StoresKeptAsHalf(t, scheme))
            {
                kept++; keptElements += t.ElementCount;
                plan.Add((name, DType.Float16, t.Shape, s => s.Write(ToHalfBytes(WithFloats(t), CompressionScheme.Float16))));
            }
            else if (t.DType.IsFloating())
            {
                kept++; keptElements += t.ElementCount;
                plan.Add((name, DType.Float32, t.Shape, s => s.Write(MemoryMarshal.AsBytes(WithFloats(t).AsSpan()))));
            }
            else plan.Add((name, DType.Int64, t.Shape, s => s.Write(MemoryMarshal.AsBytes((t.Integers ?? Array.ConvertAll(t.Floats, f => (long)f)).AsSpan()))));
        }
        var metadata = new Dictionary<string, string>
        {
            ["format"] = "pt",
            [CompressionSchemes.SchemeKey] = scheme.Name(),
            [CompressionSchemes.ArchitectureKey] = architecture,
            [CompressionSchemes.KeptFloatKey] = string.Join(",", policy.KeepFloat),
            [CompressionSchemes.KeptDTypeKey] = scheme == CompressionScheme.Int8 && policy.KeptAsHalf ? "fp16" : "fp32",
            [CompressionSchemes.SourceBytesKey] = sourceBytes.ToString(CultureInfo.InvariantCulture),
        };
        SafeTensors.WriteStreamed(output, plan.Select(p => (p.Name, p.DType, p.Shape)).ToList(), (i, s) => plan[i].Write(s), metadata);
        return new CompressionReport(architecture, scheme, sourceBytes, new FileInfo(output).Length, converted, kept, convertedElements, keptElements);
    }

    /// <summary>The tensor's values for one conversion; a lazy tensor does not keep them afterwards.</summary>
    private static float[] WithFloats(CheckpointTensor t)
    {
        float[] f = t.Floats;
        t.Release();
        return f;
    }

    private static byte[] ToHalfBytes(float[] values, CompressionScheme scheme)
    {
        var bytes = new byte[values.Length * 2];
        var dst = MemoryMarshal.Cast<byte, ushort>(bytes.AsSpan());
        if (scheme == CompressionScheme.BFloat16)
            for (int i = 0; i < values.Length; i++) dst[i] = RoundToBFloat16(values[i]);
        else
            for (int i = 0; i < values.Length; i++) dst[i] = BitConverter.HalfToUInt16Bits((Half)values[i]);
        return bytes;
    }

    /// <summary>Round-to-nearest-even onto the top 16 bits, as torch's float→bfloat16 cast (NaN kept quiet).</summary>
    internal static ushort RoundToBFloat16(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f);
        if (float.IsNaN(f)) return (ushort)((bits >> 16) | 0x40);
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }
}
