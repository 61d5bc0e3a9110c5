using SegmentAnything.Tests.Support;
using SegmentAnything.Tensors;

namespace SegmentAnything.Tests.Api;

/// <summary>Bad prompts are clear argument errors, never a crash deep inside the model.</summary>
public class SamPredictorArgumentTests
{
    private static SamPredictor Predictor()
    {
        var model = SamModel.Load(Fixtures.Path_("models/sam_vit_shapes.pt"));
        var p = new SamPredictor(model);
        var emb = Fixtures.Reference("sam_vit_shapes")["embedding"];
        p.SetEmbedding(new ImageEmbedding(new Tensor(emb.Floats, emb.Shape[1..]), (360, 480), (192, 256), null));
        return p;
    }

    [SkippableFact]
    public void PredictBeforeSetImageFails()
    {
        var p = new SamPredictor(SamModel.Load(Fixtures.Path_("models/sam_vit_shapes.pt")));
        var e = Assert.Throws<InvalidOperationException>(() => p.Predict(Prompt.FromPoint(1, 1)));
        Assert.Contains("SetImage", e.Message);
    }

    [SkippableTheory]
    [InlineData(-1f, 10f)]
    [InlineData(481f, 10f)]
    [InlineData(10f, 361f)]
    [InlineData(float.NaN, 10f)]
    public void PointOutsideTheImage(float x, float y) =>
        Assert.Contains("outside", Assert.Throws<ArgumentException>(() => Predictor().Predict(Prompt.FromPoint(x, y))).Message);

    [SkippableFact]
    public void EmptyPrompt() =>
        Assert.Contains("Empty prompt", Assert.Throws<ArgumentException>(() => Predictor().Predict(new Prompt())).Message);

    [SkippableFact]
    public void LabelsMustMatchPoints() =>
        Assert.Contains("labels", Assert.Throws<ArgumentException>(() => Predictor().Predict(new Prompt([1, 2, 3, 4], [1]))).Message);

    [SkippableFact]
    public void InvertedOrOutsideBox()
    {
        var p = Predictor();
        Assert.Contains("x1 < x0", Assert.Throws<ArgumentException>(() => p.Predict(Prompt.FromBox(50, 50, 10, 60))).Message);
        Assert.Contains("outside", Assert.Throws<ArgumentException>(() => p.Predict(Prompt.FromBox(0, 0, 500, 60))).Message);
    }

    [SkippableFact]
    public void MaskInputOfWrongSize() =>
        Assert.Contains("64x64", Assert.Throws<ArgumentException>(() => Predictor().Predict(new Prompt(MaskInput: new float[100]))).Message);

    [SkippableFact]
    public void EmbeddingOfWrongShapeIsRefused()
    {
        var p = new SamPredictor(SamModel.Load(Fixtures.Path_("models/sam_vit_shapes.pt")));
        var e = Assert.Throws<ArgumentException>(() => p.SetEmbedding(new ImageEmbedding(new Tensor(256, 64, 64), (10, 10), (10, 10), null)));
        Assert.Contains("[128, 16, 16]", e.Message);
    }

    [SkippableFact]
    public void MaskOnlyPromptAndBatchWork()
    {
        var p = Predictor();
        var first = p.Predict(Prompt.FromPoint(135, 150), multimask: true);
        Assert.Equal(3, first.Count);
        var refined = p.Predict(new Prompt(MaskInput: first.LowRes(first.BestIndex())), multimask: false);
        Assert.Equal(1, refined.Count);
        Assert.Equal(360 * 480, refined.Mask(0).Length);
        var batch = p.PredictBatch([Prompt.FromPoint(135, 150), Prompt.FromBox(90, 117, 178, 163)], multimask: false);
        Assert.Equal(2, batch.Length);
        Assert.Equal(p.Predict(Prompt.FromBox(90, 117, 178, 163), multimask: false).LowResLogits, batch[1].LowResLogits);
    }
}
