using SegmentAnything.Checkpoints;
using SegmentAnything.Modeling;

namespace SegmentAnything.Tests.Support;

/// <summary>Comparisons against the official outputs stored in the fixtures.</summary>
public static class Parity
{
    /// <summary>‖a − b‖ / ‖b‖ over the first min(len) values.</summary>
    public static double RelativeL2(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        int n = Math.Min(actual.Length, expected.Length);
        double num = 0, den = 0;
        for (int i = 0; i < n; i++)
        {
            double d = actual[i] - expected[i];
            num += d * d;
            den += (double)expected[i] * expected[i];
        }
        return Math.Sqrt(num / Math.Max(den, 1e-30));
    }

    public static void AssertRelativeL2(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, double tolerance, string what)
    {
        double err = RelativeL2(actual, expected);
        Assert.True(err < tolerance, $"{what}: relative L2 error {err:E3} exceeds {tolerance:E0}");
    }

    /// <summary>
    /// Compares every recorded activation that the reference has as <c>debug.&lt;module&gt;</c>
    /// (first 65,536 values and the full shape). Returns the per-module errors for diagnostics.
    /// </summary>
    public static Dictionary<string, double> CompareActivations(ActivationRecorder recorder, SafeTensorsFile reference, double tolerance)
    {
        var errors = new Dictionary<string, double>();
        foreach (var (module, tensor) in recorder.Activations)
        {
            if (!reference.Tensors.TryGetValue("debug." + module, out var expected)) continue;
            if (reference.Tensors.TryGetValue("debug." + module + ".shape", out var shape))
                Assert.Equal(shape.Integers!.Select(v => (int)v).ToArray(), tensor.Shape);
            errors[module] = RelativeL2(tensor.Data, expected.Floats);
        }
        foreach (var (module, err) in errors)
            Assert.True(err < tolerance, $"activation {module}: relative L2 error {err:E3} exceeds {tolerance:E0} (all: {string.Join(", ", errors.Select(e => $"{e.Key}={e.Value:E2}"))})");
        return errors;
    }

    /// <summary>Unpacks numpy packbits (most significant bit first).</summary>
    public static bool[] UnpackBits(CheckpointTensor packed, int count)
    {
        var bits = new bool[count];
        var bytes = packed.Integers!;
        for (int i = 0; i < count; i++) bits[i] = ((bytes[i >> 3] >> (7 - (i & 7))) & 1) != 0;
        return bits;
    }
}
