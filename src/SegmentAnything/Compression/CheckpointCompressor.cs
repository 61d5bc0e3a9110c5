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
        var dict = CheckpointReader.Load(input);
        if (CompressedCheckpoint.SchemeOf(input) is { } existing)
            throw new CheckpointException($"{input}: already compressed ({existing}); compress the original float checkpoint instead.");
        // Binding the model first proves the checkpoint is complete and names its architecture for the metadata.
        string architecture = SamModel.FromStateDict(dict).Architecture;
        return Compress(dict, architecture, new FileInfo(input).Length, output, scheme, policy ?? CompressionPolicy.Default(scheme));
    }

    public static CompressionReport Compress(StateDict dict, string architecture, long sourceBytes, string output, CompressionScheme scheme, CompressionPolicy policy)
    {
        var writer = new SafeTensorsStreamWriter();
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
                if (scheme == CompressionScheme.Int8) AddInt8(writer, name, t);
                else writer.Add(name, scheme.HalfDType(), t.Shape, ToHalfBytes(t.Floats, scheme));
                continue;
            }
            if (policy.StoresKeptAsHalf(t, scheme)) { kept++; keptElements += t.ElementCount; writer.Add(name, DType.Float16, t.Shape, ToHalfBytes(t.Floats, CompressionScheme.Float16)); }
            else if (t.DType.IsFloating()) { kept++; keptElements += t.ElementCount; writer.AddFloat32(name, t.Shape, t.Floats); }
            else writer.Add(name, DType.Int64, t.Shape, MemoryMarshal.AsBytes((t.Integers ?? Array.ConvertAll(t.Floats, f => (long)f)).AsSpan()).ToArray());
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
        writer.Write(output, metadata);
        return new CompressionReport(architecture, scheme, sourceBytes, new FileInfo(output).Length, converted, kept, convertedElements, keptElements);
    }

    private static void AddInt8(SafeTensorsStreamWriter writer, string name, CheckpointTensor t)
    {
        int n = t.Shape[0];
        int k = (int)(t.ElementCount / n);
        var (values, scales) = Int8Quantize.Weights(t.Floats, n, k);
        writer.Add(name, DType.Int8, t.Shape, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
        writer.AddFloat32(name + CompressionSchemes.ScaleSuffix, [n], scales);
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
