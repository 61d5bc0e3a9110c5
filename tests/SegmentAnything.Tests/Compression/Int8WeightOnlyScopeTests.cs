using SegmentAnything.Kernels;

namespace SegmentAnything.Tests.Compression;

/// <summary>The loaders keep prompt encoders and mask decoders off the dynamic int8 kernels (see <see cref="Int8Linear.WeightOnlyHere"/>).</summary>
public class Int8WeightOnlyScopeTests
{
    private static float[] AttachedWeight(int outFeatures, int inFeatures)
    {
        var rng = new Random(outFeatures * 7 + inFeatures);
        var w = new float[outFeatures * inFeatures];
        for (int i = 0; i < w.Length; i++) w[i] = (float)(rng.NextDouble() * 2 - 1);
        var (values, scales) = Int8Quantize.Weights(w, outFeatures, inFeatures);
        for (int o = 0; o < outFeatures; o++)
            for (int i = 0; i < inFeatures; i++) w[o * inFeatures + i] = values[o * inFeatures + i] * scales[o];
        Int8Linear.Attach(w, values, scales);
        return w;
    }

    [Fact]
    public void Layers_built_inside_the_scope_run_the_float_kernels_and_outside_it_the_int8_ones()
    {
        var previous = Int8Linear.Execution;
        try
        {
            Int8Linear.Execution = Int8Execution.Dynamic;
            float[] w = AttachedWeight(24, 40);
            Assert.NotNull(Int8Linear.ForWeight(w, 40, 24));
            using (Int8Linear.WeightOnlyHere())
            {
                Assert.Null(Int8Linear.ForWeight(w, 40, 24));
                using (Int8Linear.WeightOnlyHere()) Assert.Null(Int8Linear.ForWeight(w, 40, 24));
                Assert.Null(Int8Linear.ForWeight(w, 40, 24));
            }
            Assert.NotNull(Int8Linear.ForWeight(w, 40, 24));

            // Inside the scope a layer computes with the dequantised weights exactly as the float kernels do.
            var x = new float[5 * 40];
            for (int i = 0; i < x.Length; i++) x[i] = MathF.Sin(i);
            Linear scoped;
            using (Int8Linear.WeightOnlyHere()) scoped = new Linear(w, null, 40, 24);
            var plain = new Linear((ReadOnlySpan<float>)w, null, 40, 24);
            Assert.Equal(plain.Forward(x, 5), scoped.Forward(x, 5));
        }
        finally { Int8Linear.Execution = previous; }
    }

    [Fact]
    public void The_scope_is_per_thread()
    {
        var previous = Int8Linear.Execution;
        try
        {
            Int8Linear.Execution = Int8Execution.Dynamic;
            float[] w = AttachedWeight(16, 32);
            using (Int8Linear.WeightOnlyHere())
            {
                Int8Linear? other = null;
                var t = new Thread(() => other = Int8Linear.ForWeight(w, 32, 16));
                t.Start();
                t.Join();
                Assert.NotNull(other);
            }
        }
        finally { Int8Linear.Execution = previous; }
    }
}
