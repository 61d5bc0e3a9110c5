using SegmentAnything.Checkpoints;
using SegmentAnything.Imaging;
using SegmentAnything.Modeling;
using SegmentAnything.Tensors;
using SegmentAnything.Tests.Support;
using Xunit.Abstractions;

namespace SegmentAnything.Tests.ModelParity;

/// <summary>
/// Parity of the SAM ViT and MobileSAM predictors with the official code's outputs on the fixtures:
/// embeddings, per-layer activations, IoU scores, low-res logits and final masks.
/// </summary>
public class SamParityTests(ITestOutputHelper output)
{
    public static TheoryData<string> SamModels => ["sam_vit_mini_random", "mobile_sam_random", "sam_vit_shapes"];

    private static readonly Dictionary<string, SamModel> Loaded = new();

    internal static SamModel Model(string name)
    {
        lock (Loaded)
        {
            if (!Loaded.TryGetValue(name, out var m))
                Loaded[name] = m = SamModel.Load(Fixtures.Path_(Entry(name).GetProperty("checkpoint").GetString()!));
            return m;
        }
    }

    internal static System.Text.Json.JsonElement Entry(string name) => Fixtures.Manifest.GetProperty("models").GetProperty(name);

    internal static (int H, int W) Hw(SafeTensorsFile reference, string key)
    {
        var v = reference[key].Integers!;
        return ((int)v[0], (int)v[1]);
    }

    [SkippableTheory]
    [MemberData(nameof(SamModels))]
    public void EncoderMatchesOfficialEmbeddingAndActivations(string name)
    {
        var reference = Fixtures.Reference(name);
        var model = Model(name);
        var resized = reference["resized_image"];
        var image = new RgbImage(resized.Shape[1], resized.Shape[0], resized.Integers!.Select(v => (byte)v).ToArray());
        var predictor = new SamPredictor(model);
        var recorder = new ActivationRecorder();
        predictor.SetResizedImage(image, Hw(reference, "image_hw"), recorder);
        var errors = Parity.CompareActivations(recorder, reference, 1e-4);
        foreach (var (k, v) in errors) output.WriteLine($"{k}: {v:E3}");
        Assert.NotEmpty(errors);
        var expected = reference["embedding"];
        Assert.Equal(expected.Shape[1..], predictor.Embedding.Embedding.Shape);
        double err = Parity.RelativeL2(predictor.Embedding.Embedding.Data, expected.Floats);
        output.WriteLine($"embedding: {err:E3}");
        Assert.True(err < 1e-4, $"embedding relative L2 error {err:E3}");
    }

    [SkippableTheory]
    [MemberData(nameof(SamModels))]
    public void DecoderMatchesOfficialOnEveryCase(string name)
    {
        var reference = Fixtures.Reference(name);
        var predictor = new SamPredictor(Model(name));
        var emb = reference["embedding"];
        predictor.SetEmbedding(new ImageEmbedding(new Tensor(emb.Floats, emb.Shape[1..]), Hw(reference, "image_hw"), Hw(reference, "input_hw"), null));
        DecoderTrace? lastTrace = null;
        int lastBatch = 0;
        foreach (var caseJson in Entry(name).GetProperty("cases").EnumerateArray())
        {
            var c = ManifestCase.Parse(caseJson);
            var prompts = c.Prompts;
            if (c.MaskInputFrom is not null)
            {
                var src = reference[c.MaskInputFrom + ".low_res_logits"];
                var iou = reference[c.MaskInputFrom + ".iou"].Floats;
                int best = Array.IndexOf(iou, iou.Max());
                int plane = src.Shape[^1] * src.Shape[^2];
                prompts = [prompts[0] with { MaskInput = src.Floats.AsSpan(best * plane, plane).ToArray() }];
            }
            var trace = new DecoderTrace();
            var results = predictor.PredictBatch(prompts, c.Multimask, trace);
            (lastTrace, lastBatch) = (trace, prompts.Count);
            CheckCase(reference, c.Name, results);
        }
        // The debug.* decoder tensors hold the last case decoded.
        var rec = new ActivationRecorder();
        var pe = predictor.Model.Sam!.PromptEncoder;
        int dim = pe.EmbedDim;
        rec.Record("prompt_encoder", lastTrace!.Sparse.SelectMany(s => s).ToArray(), lastBatch, lastTrace.Sparse[0].Length / dim, dim);
        rec.Record("mask_decoder.transformer", lastTrace.Transformer.SelectMany(s => s).ToArray(), lastBatch, lastTrace.Transformer[0].Length / dim, dim);
        int side = 4 * pe.EmbeddingSize;
        rec.Record("mask_decoder.output_upscaling", lastTrace.Upscaling.SelectMany(s => s).ToArray(), lastBatch, dim / 8, side, side);
        foreach (var (k, v) in Parity.CompareActivations(rec, reference, 1e-4)) output.WriteLine($"{k}: {v:E3}");
    }

    private void CheckCase(SafeTensorsFile reference, string name, MaskResult[] results)
    {
        var iou = results.SelectMany(r => r.Scores).ToArray();
        var low = results.SelectMany(r => r.LowResLogits).ToArray();
        var expectedIou = reference[name + ".iou"];
        var expectedLow = reference[name + ".low_res_logits"];
        Assert.Equal(expectedLow.Floats.Length, low.Length);
        Assert.Equal(expectedIou.Floats.Length, iou.Length);
        double iouErr = Parity.RelativeL2(iou, expectedIou.Floats), lowErr = Parity.RelativeL2(low, expectedLow.Floats);
        var maskShape = reference[name + ".masks.shape"].Integers!;
        int total = (int)maskShape.Aggregate(1L, (a, b) => a * b);
        var expectedMasks = Parity.UnpackBits(reference[name + ".masks"], total);
        var nearZero = Parity.UnpackBits(reference[name + ".near_zero"], total);
        int offset = 0, mismatches = 0;
        foreach (var r in results)
            for (int m = 0; m < r.Count; m++)
            {
                var mask = r.Mask(m);
                for (int i = 0; i < mask.Length; i++, offset++)
                    if (mask[i] != expectedMasks[offset] && !nearZero[offset]) mismatches++;
            }
        output.WriteLine($"{name}: iou {iouErr:E3}, low-res logits {lowErr:E3}, mask mismatches {mismatches}");
        Assert.Equal(total, offset);
        Assert.True(iouErr < 1e-4, $"{name}: IoU relative L2 error {iouErr:E3}");
        Assert.True(lowErr < 1e-4, $"{name}: low-res logits relative L2 error {lowErr:E3}");
        Assert.Equal(0, mismatches);
    }
}
