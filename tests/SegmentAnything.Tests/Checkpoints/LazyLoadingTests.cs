using SegmentAnything.Checkpoints;
using SegmentAnything.Compression;
using SegmentAnything.Kernels;
using static SegmentAnything.Tests.Checkpoints.TorchCheckpointWriter;

namespace SegmentAnything.Tests.Checkpoints;

/// <summary>The low-memory (file-backed, one tensor at a time) loader must see exactly the tensors the eager reader sees.</summary>
public class LazyLoadingTests
{
    private static float[] Values(int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
    }

    private static void AssertSameTensors(StateDict eager, StateDict lazy)
    {
        Assert.Equal(eager.Keys.Order(StringComparer.Ordinal), lazy.Keys.Order(StringComparer.Ordinal));
        foreach (string name in eager.Keys)
        {
            CheckpointTensor a = eager.Get(name)!, b = lazy.Get(name)!;
            Assert.Equal(a.DType, b.DType);
            Assert.Equal(a.Shape, b.Shape);
            Assert.Equal(a.ElementCount, b.ElementCount);
            var copy = new float[b.ElementCount];
            b.CopyFloatsTo(copy);
            Assert.Equal(a.Floats, copy);
            Assert.Equal(a.Floats, b.Floats);
            Assert.Equal(a.Integers, b.Integers);
        }
    }

    [Fact]
    public void Torch_zip_records_are_read_in_place_with_the_same_values()
    {
        using var f = new TempFile();
        var w = new TorchCheckpointWriter().Floats("0", Values(35, 1)).Floats("1", Values(12, 2)).Floats("4", Values(35, 11))
            .Storage("2", DType.Float16, Values(8, 3).SelectMany(v => BitConverter.GetBytes((Half)v)).ToArray())
            .Storage("3", DType.Int64, new long[] { 7, -3 }.SelectMany(BitConverter.GetBytes).ToArray());
        w.Write(f.Path, Dict(("a", Contiguous("0", 5, 7)), ("b", Contiguous("1", 12)), ("slice", new TensorSpec("1", 4, [2, 3], [3, 1])),
            ("t", new TensorSpec("4", 0, [7, 5], [1, 7])), ("h", Contiguous("2", 2, 4)), ("n", Contiguous("3", 2))));
        var lazy = CheckpointReader.Open(f.Path);
        Assert.True(lazy.Get("a")!.IsLazy);
        Assert.True(lazy.Get("h")!.IsLazy);
        Assert.False(lazy.Get("t")!.IsLazy); // a transposed view is gathered at once
        AssertSameTensors(CheckpointReader.Load(f.Path), lazy);
        // Released values are read again, identically.
        var a = lazy.Get("a")!;
        float[] first = a.Floats;
        a.Release();
        Assert.True(a.IsLazy);
        Assert.Equal(first, a.Floats);
    }

    [Fact]
    public void Safetensors_are_read_tensor_by_tensor_with_the_same_values()
    {
        using var f = new TempFile();
        string path = f.Path + ".safetensors";
        try
        {
            SafeTensors.Write(path, new Dictionary<string, CheckpointTensor>
            {
                ["w"] = CheckpointTensor.FromFloats(Values(6 * 9, 4), 6, 9),
                ["s"] = CheckpointTensor.FromFloats([2.5f]),
                ["i"] = CheckpointTensor.FromInt64([1, 2, 3], 3),
            });
            var opened = SafeTensors.Open(path);
            Assert.All(opened.Tensors.Values, t => Assert.True(t.IsLazy));
            AssertSameTensors(new StateDict(SafeTensors.Read(File.ReadAllBytes(path)).Tensors, "bytes"), new StateDict(opened.Tensors, "lazy"));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void A_lazy_tensor_whose_file_shrank_fails_clearly()
    {
        using var f = new TempFile();
        string path = f.Path + ".safetensors";
        try
        {
            SafeTensors.Write(path, new Dictionary<string, CheckpointTensor> { ["w"] = CheckpointTensor.FromFloats(Values(64, 5), 8, 8) });
            var opened = SafeTensors.Open(path);
            using (var fs = new FileStream(path, FileMode.Open)) fs.SetLength(fs.Length - 16);
            Assert.Contains("ended", Assert.Throws<CheckpointException>(() => opened["w"].Floats).Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void TakeLinear_from_a_lazy_tensor_matches_the_float_array_path()
    {
        using var f = new TempFile();
        const int inF = 37, outF = 19, rows = 5;
        float[] weight = Values(inF * outF, 6), bias = Values(outF, 7), x = Values(rows * inF, 8);
        new TorchCheckpointWriter().Floats("0", weight).Floats("1", bias)
            .Write(f.Path, Dict(("l.weight", Contiguous("0", outF, inF)), ("l.bias", Contiguous("1", outF))));
        var binder = new WeightBinder(CheckpointReader.Open(f.Path));
        var lazyLinear = binder.TakeLinear("l", inF, outF);
        binder.Complete("test");
        Assert.True(binder.Dict.Get("l.weight")!.IsLazy); // nothing of the weight stays behind in the dict
        Assert.Equal(new Linear(weight, bias, inF, outF).Forward(x, rows), lazyLinear.Forward(x, rows));
    }

    [Fact]
    public void TakeLinear_reports_missing_and_misshaped_weights()
    {
        using var f = new TempFile();
        new TorchCheckpointWriter().Floats("0", Values(12, 9)).Write(f.Path, Dict(("l.weight", Contiguous("0", 3, 4))));
        var binder = new WeightBinder(CheckpointReader.Open(f.Path));
        binder.TakeLinear("l", 3, 4, bias: false);
        binder.TakeLinear("m", 2, 2, bias: false);
        var e = Assert.Throws<CheckpointException>(() => binder.Complete("test"));
        Assert.Contains("m.weight", e.Message);
        Assert.Contains("l.weight: expected [4, 3]", e.Message);
    }

    [Fact]
    public void Int8_weights_are_dequantised_from_int8_bytes_exactly()
    {
        using var f = new TempFile();
        string path = f.Path + ".safetensors";
        try
        {
            const int n = 6, k = 40;
            var (q, scales) = Int8Quantize.Weights(Values(n * k, 10), n, k);
            SafeTensors.Write(path, new Dictionary<string, CheckpointTensor>
            {
                ["image_encoder.l.weight"] = new(DType.Int8, [n, k], Array.ConvertAll(q, v => (float)v), Array.ConvertAll(q, v => (long)v)),
                ["image_encoder.l.weight_scale"] = CheckpointTensor.FromFloats(scales, n),
            }, new Dictionary<string, string> { [CompressionSchemes.SchemeKey] = "int8" });
            var lazy = CheckpointReader.Open(path);
            var t = lazy.Get("image_encoder.l.weight")!;
            Assert.True(t.IsLazy);
            Assert.Equal(DType.Float32, t.DType);
            var expected = new float[n * k];
            for (int i = 0; i < expected.Length; i++) expected[i] = q[i] * scales[i / k];
            var copy = new float[n * k];
            t.CopyFloatsTo(copy);
            Assert.Equal(expected, copy);
            Assert.Equal(expected, CheckpointReader.Load(path).Get("image_encoder.l.weight")!.Floats);
            // Materialised image-encoder matrices keep their int8 form for the dynamic kernels, as before.
            Assert.True(Int8Linear.IsAttached(t.Floats));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Synthetic_checkpoints_saved_as_pth_and_safetensors_load_back_identically()
    {
        using var f = new TempFile();
        string pth = f.Path + ".pth", st = f.Path + ".safetensors";
        try
        {
            SyntheticCheckpoints.Save("vit_b", pth, seed: 3);
            SyntheticCheckpoints.Save("vit_b", st, seed: 3);
            var reference = SyntheticCheckpoints.Create("vit_b", seed: 3);
            foreach (string file in new[] { pth, st })
            {
                var lazy = CheckpointReader.Open(file);
                Assert.Equal(reference.Keys.Order(StringComparer.Ordinal), lazy.Keys.Order(StringComparer.Ordinal));
                foreach (string name in reference.Keys)
                {
                    var t = lazy.Get(name)!;
                    Assert.True(t.IsLazy, name);
                    Assert.Equal(reference.Get(name)!.Shape, t.Shape);
                    Assert.Equal(reference.Get(name)!.Floats, t.Floats);
                    t.Release();
                }
            }
        }
        finally { File.Delete(pth); File.Delete(st); }
    }
}
