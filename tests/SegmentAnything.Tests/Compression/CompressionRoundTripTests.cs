using System.Text.Json;
using SegmentAnything.Checkpoints;
using SegmentAnything.Compression;
using SegmentAnything.Imaging;
using SegmentAnything.Kernels;
using SegmentAnything.Tests.Support;

namespace SegmentAnything.Tests.Compression;

public class CompressionRoundTripTests
{
    private const string Shapes = "models/sam_vit_shapes.pt";

    private static string Compress(CompressionScheme scheme, out CompressionReport report)
    {
        string output = Path.Combine(CliHarness.TempDir(), $"shapes.{scheme.Name()}.safetensors");
        report = CheckpointCompressor.Compress(Fixtures.Path_(Shapes), output, scheme);
        return output;
    }

    [SkippableFact]
    public void Int8_round_trip_stores_per_channel_int8_and_loads_as_the_same_architecture()
    {
        string path = Compress(CompressionScheme.Int8, out var report);
        var original = CheckpointReader.Load(Fixtures.Path_(Shapes));
        var loaded = CheckpointReader.Load(path);
        Assert.Equal(original.Keys.Order(), loaded.Keys.Order());
        Assert.True(report.ConvertedTensors > 10);

        var raw = SafeTensors.Read(path);
        Assert.Equal("int8", raw.Metadata[CompressionSchemes.SchemeKey]);
        Assert.Equal(SamModel.FromStateDict(original).Architecture, raw.Metadata[CompressionSchemes.ArchitectureKey]);
        const string qkv = "image_encoder.blocks.0.attn.qkv.weight";
        Assert.Equal(DType.Int8, raw[qkv].DType);
        Assert.Equal(DType.Float16, raw["image_encoder.neck.2.weight"].DType);
        Assert.Equal(DType.Float32, raw["image_encoder.blocks.0.attn.qkv.bias"].DType);
        float[] scales = raw[qkv + CompressionSchemes.ScaleSuffix].Floats;
        float[] w = original.Get(qkv)!.Floats, dq = loaded.Get(qkv)!.Floats;
        int k = w.Length / scales.Length;
        for (int i = 0; i < w.Length; i++) Assert.True(Math.Abs(w[i] - dq[i]) <= scales[i / k] * 0.5001f, $"{qkv}[{i}]");

        // Encoder weights keep their int8 form for the dynamic kernels; the decoder runs weight-only.
        Assert.True(Int8Linear.IsAttached(dq));
        Assert.False(Int8Linear.IsAttached(loaded.Get("mask_decoder.transformer.layers.0.mlp.lin1.weight")!.Floats));
    }

    [SkippableFact]
    public void Compressed_models_predict_masks_that_agree_with_float32()
    {
        var reference = SamModel.Load(Fixtures.Path_(Shapes));
        var image = ImageIO.Load(Fixtures.Path_("scenes/scene0.png"));
        foreach (var (scheme, minimum) in new[] { (CompressionScheme.Int8, 0.9), (CompressionScheme.Float16, 0.99), (CompressionScheme.BFloat16, 0.95) })
        {
            var model = SamModel.Load(Compress(scheme, out var report));
            Assert.Equal(reference.Architecture, model.Architecture);
            Assert.Equal(reference.Architecture, report.Architecture);
            var agreement = ModelEvaluator.Agreement(model, reference, [image], grid: 3);
            Assert.Equal(9, agreement.PointPrompts);
            Assert.InRange(agreement.MIoU, minimum, 1.0);
            Assert.InRange(agreement.IouScoreMae, 0, 0.05);
        }
    }

    [SkippableFact]
    public void Dynamic_int8_encoder_agrees_with_float32()
    {
        var reference = SamModel.Load(Fixtures.Path_(Shapes));
        var previous = Int8Linear.Execution;
        try
        {
            Int8Linear.Execution = Int8Execution.Dynamic;
            var model = SamModel.Load(Compress(CompressionScheme.Int8, out _));
            var agreement = ModelEvaluator.Agreement(model, reference, [ImageIO.Load(Fixtures.Path_("scenes/scene1.png"))], grid: 3);
            Assert.InRange(agreement.MIoU, 0.9, 1.0);
        }
        finally { Int8Linear.Execution = previous; }
    }

    [SkippableFact]
    public void File_sizes_shrink_as_the_scheme_promises()
    {
        string f32 = Compress(CompressionScheme.Float32, out var r32);
        Compress(CompressionScheme.Int8, out var r8);
        Compress(CompressionScheme.Float16, out var r16);
        Assert.Equal(0, r32.ConvertedTensors);
        Assert.InRange((double)r16.OutputBytes / r32.OutputBytes, 0.45, 0.52);
        Assert.InRange((double)r8.OutputBytes / r32.OutputBytes, 0.2, 0.36);
        Assert.Null(CompressedCheckpoint.Describe(Fixtures.Path_(Shapes)));
        Assert.Equal("fp32", CompressedCheckpoint.SchemeOf(f32));
    }

    [SkippableFact]
    public void Compressing_a_compressed_file_is_refused()
    {
        string int8 = Compress(CompressionScheme.Int8, out _);
        var e = Assert.Throws<CheckpointException>(() => CheckpointCompressor.Compress(int8, int8 + ".again.safetensors", CompressionScheme.Int8));
        Assert.Contains("already compressed", e.Message);
    }

    private static string WriteInt8File(sbyte[] values, float[]? scales)
    {
        string path = Path.Combine(CliHarness.TempDir(), "bad.safetensors");
        var tensors = new Dictionary<string, CheckpointTensor>
        {
            ["layer.weight"] = new(DType.Int8, [2, values.Length / 2], Array.ConvertAll(values, v => (float)v), Array.ConvertAll(values, v => (long)v)),
        };
        if (scales is not null) tensors["layer.weight_scale"] = CheckpointTensor.FromFloats(scales, scales.Length);
        SafeTensors.Write(path, tensors, new Dictionary<string, string> { [CompressionSchemes.SchemeKey] = "int8" });
        return path;
    }

    [Fact]
    public void Malformed_int8_files_fail_with_clear_errors()
    {
        Assert.Contains("no scale", Assert.Throws<CheckpointException>(() => CheckpointReader.Load(WriteInt8File([1, 2, 3, 4], null))).Message);
        Assert.Contains("-128", Assert.Throws<CheckpointException>(() => CheckpointReader.Load(WriteInt8File([1, -128, 3, 4], [1f, 1f]))).Message);
        Assert.Contains("scale", Assert.Throws<CheckpointException>(() => CheckpointReader.Load(WriteInt8File([1, 2, 3, 4], [1f]))).Message);
        Assert.Contains("invalid scale", Assert.Throws<CheckpointException>(() => CheckpointReader.Load(WriteInt8File([1, 2, 3, 4], [1f, float.NaN]))).Message);
        var ok = CheckpointReader.Load(WriteInt8File([1, 2, 3, 4], [0.5f, 2f]));
        Assert.Equal([0.5f, 1f, 6f, 8f], ok.Get("layer.weight")!.Floats);
        Assert.False(ok.Contains("layer.weight_scale"));
    }

    [SkippableFact]
    public void Cli_compress_info_and_eval()
    {
        string dir = CliHarness.TempDir();
        string output = Path.Combine(dir, "shapes.int8.safetensors");
        var c = CliHarness.Run("compress", Fixtures.Path_(Shapes), "--to", "int8", "-o", output);
        Assert.True(c.ExitCode == 0, c.StdErr);
        Assert.Contains("int8", c.StdOut);
        var info = CliHarness.Run("info", output);
        Assert.True(info.ExitCode == 0, info.StdErr);
        Assert.Contains("compression:   int8", info.StdOut);
        var eval = CliHarness.Run("eval", "-c", output, "-r", Fixtures.Path_(Shapes), "-i", Fixtures.Path_("scenes/scene0.png"), "--grid", "2", "--json");
        Assert.True(eval.ExitCode == 0, eval.StdErr);
        using var doc = JsonDocument.Parse(eval.StdOut);
        Assert.Equal(4, doc.RootElement.GetProperty("agreement").GetProperty("point_prompts").GetInt32());
        Assert.InRange(doc.RootElement.GetProperty("agreement").GetProperty("miou").GetDouble(), 0.8, 1.0);
        Assert.True(doc.RootElement.GetProperty("ground_truth").GetProperty("instances").GetInt32() > 0);
        var bad = CliHarness.Run("compress", Fixtures.Path_(Shapes), "--to", "int4", "-o", output);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("int4", bad.StdErr);
    }
}
