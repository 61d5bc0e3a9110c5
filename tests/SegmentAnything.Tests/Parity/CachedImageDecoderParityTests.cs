using SegmentAnything.Modeling;
using SegmentAnything.Tensors;
using SegmentAnything.Tests.Support;
using Xunit.Abstractions;

namespace SegmentAnything.Tests.ModelParity;

/// <summary>
/// Predict without a trace and without a mask input reuses the image's prompt-independent decoder
/// work (the path AMG batches use); its outputs must match the official ones like the full path.
/// </summary>
public class CachedImageDecoderParityTests(ITestOutputHelper output)
{
    [SkippableTheory]
    [MemberData(nameof(SamParityTests.SamModels), MemberType = typeof(SamParityTests))]
    public void UntracedPredictMatchesOfficialOnEveryCaseWithoutMaskInput(string name)
    {
        var reference = Fixtures.Reference(name);
        var predictor = new SamPredictor(SamParityTests.Model(name));
        var emb = reference["embedding"];
        predictor.SetEmbedding(new ImageEmbedding(new Tensor(emb.Floats, emb.Shape[1..]),
            SamParityTests.Hw(reference, "image_hw"), SamParityTests.Hw(reference, "input_hw"), null));
        int checkedCases = 0;
        foreach (var caseJson in SamParityTests.Entry(name).GetProperty("cases").EnumerateArray())
        {
            var c = ManifestCase.Parse(caseJson);
            if (c.MaskInputFrom is not null) continue;
            var results = predictor.PredictBatch(c.Prompts, c.Multimask);
            var iou = results.SelectMany(r => r.Scores).ToArray();
            var low = results.SelectMany(r => r.LowResLogits).ToArray();
            var expectedIou = reference[c.Name + ".iou"].Floats;
            var expectedLow = reference[c.Name + ".low_res_logits"].Floats;
            Assert.Equal(expectedLow.Length, low.Length);
            Assert.Equal(expectedIou.Length, iou.Length);
            double iouErr = Parity.RelativeL2(iou, expectedIou), lowErr = Parity.RelativeL2(low, expectedLow);
            output.WriteLine($"{c.Name}: iou {iouErr:E3}, low-res logits {lowErr:E3}");
            Assert.True(iouErr < 1e-4, $"{c.Name}: IoU relative L2 error {iouErr:E3}");
            Assert.True(lowErr < 1e-4, $"{c.Name}: low-res logits relative L2 error {lowErr:E3}");
            checkedCases++;
        }
        Assert.True(checkedCases > 0, "No case without a mask input in the manifest.");
    }
}
