using System.Diagnostics;
using SegmentAnything.Checkpoints;
using SegmentAnything.Imaging;
using SegmentAnything.Modeling;
using SegmentAnything.Tests.Support;
using Xunit.Abstractions;

namespace SegmentAnything.Tests.Modeling;

public class TinyViTParityTests(ITestOutputHelper output)
{
    private const string Model = "mobile_sam_random";

    internal static string CheckpointPath =>
        Fixtures.Path_(Fixtures.Manifest.GetProperty("models").GetProperty(Model).GetProperty("checkpoint").GetString()!);

    [SkippableFact]
    public void MatchesOfficialMobileSamEncoder()
    {
        var reference = Fixtures.Reference(Model);
        var dict = CheckpointReader.Load(CheckpointPath);
        var binder = new WeightBinder(dict);
        binder.Ignore("prompt_encoder.");
        binder.Ignore("mask_decoder.");
        var encoder = TinyViT.Load(binder);
        binder.Complete("MobileSAM TinyViT encoder");
        Assert.Equal(new[] { 64, 128, 160, 320 }, encoder.EmbedDims);
        Assert.Equal(new[] { 2, 2, 6, 2 }, encoder.Depths);
        Assert.Equal(new[] { 0, 4, 5, 10 }, encoder.NumHeads);
        Assert.Equal(new[] { 0, 7, 14, 7 }, encoder.WindowSizes);

        var resized = reference["resized_image"];
        var rgb = new RgbImage(resized.Shape[1], resized.Shape[0], resized.Integers!.Select(v => (byte)v).ToArray());
        var image = SamPreprocess.ToInputTensor(rgb, encoder.ImageSize);
        var recorder = new ActivationRecorder();
        encoder.Forward(image, recorder); // warm-up (JIT), also recorded
        var clock = Stopwatch.StartNew();
        var embedding = encoder.Forward(image, recorder);
        clock.Stop();

        var errors = Parity.CompareActivations(recorder, reference, 1e-4);
        foreach (var (module, err) in errors) output.WriteLine($"{module}: relative L2 {err:E3}");
        Assert.Equal(6, errors.Count);
        var expected = reference["embedding"];
        Assert.Equal(new[] { 1, 256, 64, 64 }, expected.Shape);
        Assert.Equal(new[] { 256, 64, 64 }, embedding.Shape);
        double e = Parity.RelativeL2(embedding.Data, expected.Floats);
        output.WriteLine($"embedding: relative L2 {e:E3}; forward {clock.Elapsed.TotalMilliseconds:F0} ms");
        Assert.True(e < 1e-4, $"embedding relative L2 {e:E3}");
    }
}
