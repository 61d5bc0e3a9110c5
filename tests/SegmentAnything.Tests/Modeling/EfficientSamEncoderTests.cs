using System.Diagnostics;
using SegmentAnything.Imaging;
using SegmentAnything.Modeling;
using SegmentAnything.Tests.Support;
using Xunit.Abstractions;

namespace SegmentAnything.Tests.Modeling;

/// <summary>Image encoder parity against the official embedding and per-module activations.</summary>
public class EfficientSamEncoderTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    [SkippableFact]
    public void PreprocessedInputMatchesOfficialRows()
    {
        var reference = EfficientSamTestSupport.Reference;
        var input = EfficientSamPreprocess.ToInputTensor(ImageIO.Load(Fixtures.Path_("reference/image.png")));
        var rows = reference["debug.input_rows"]; // [1, 3, 16, 1024]: every 64th row
        int size = input.Shape[1], count = rows.Shape[2], step = size / count;
        var actual = new float[rows.Floats.Length];
        for (int c = 0; c < 3; c++)
            for (int r = 0; r < count; r++)
                input.Data.AsSpan((c * size + r * step) * size, size).CopyTo(actual.AsSpan((c * count + r) * size, size));
        double err = Parity.RelativeL2(actual, rows.Floats);
        output.WriteLine($"input rows rel L2 {err:E2}");
        Assert.True(err < 1e-6, $"preprocessed input rows: relative L2 {err:E3}");
    }

    [SkippableFact]
    public void EmbeddingMatchesOfficial()
    {
        var reference = EfficientSamTestSupport.Reference;
        var model = EfficientSamTestSupport.Model;
        var input = EfficientSamPreprocess.ToInputTensor(ImageIO.Load(Fixtures.Path_("reference/image.png")));

        var recorder = new ActivationRecorder();
        var watch = Stopwatch.StartNew();
        var embedding = model.EncodeImage(input, recorder);
        watch.Stop();

        var expected = reference["embedding"];
        Assert.Equal(expected.Shape.Skip(1), embedding.Shape);
        double err = Parity.RelativeL2(embedding.Data, expected.Floats);
        output.WriteLine($"embedding rel L2 {err:E2}; encoder {watch.ElapsedMilliseconds} ms");
        var layers = Parity.CompareActivations(recorder, reference, Tolerance);
        foreach (var (module, e) in layers.OrderBy(l => l.Key, StringComparer.Ordinal)) output.WriteLine($"  {module}: rel L2 {e:E2}");
        Assert.Contains("image_encoder.neck", layers.Keys);
        Parity.AssertRelativeL2(embedding.Data, expected.Floats, Tolerance, "embedding");
    }
}
