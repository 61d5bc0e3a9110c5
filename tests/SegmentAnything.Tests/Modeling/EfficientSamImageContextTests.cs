using SegmentAnything.Modeling;

namespace SegmentAnything.Tests.Modeling;

/// <summary>The per-image decoder cache must not change a single output bit.</summary>
public class EfficientSamImageContextTests
{
    [SkippableFact]
    public void PreparedFirstBlockGivesBitIdenticalMasks()
    {
        var model = EfficientSamTestSupport.Model;
        var embedding = EfficientSamTestSupport.ReferenceEmbedding;
        var (points, labels) = EfficientSamTestSupport.Case("e3_many_points");
        var context = model.PrepareImage(embedding);
        Assert.NotNull(context.FirstBlock);

        int c = model.PromptEncoder.EmbedDim, s = model.PromptEncoder.ImageEmbeddingSize, k = points.GetLength(1);
        float[] tokens = EfficientSamOps.Transpose(embedding.Data, c, s * s);
        float[] pe = EfficientSamOps.Transpose(model.PromptEncoder.DensePositionalEncoding(), c, s * s);
        var sparse = new float[k * c];
        for (int i = 0; i < sparse.Length; i++) sparse[i] = MathF.Sin(0.37f * i);
        // The span overload runs the first block's projections inline, the other takes them from the context.
        var plain = model.MaskDecoder.PredictMasks(tokens.AsSpan(), pe.AsSpan(), s, sparse, k);
        var cached = model.MaskDecoder.PredictMasks(context.ImageTokens, pe, context.FirstBlock, s, sparse, k);
        Assert.Equal(plain.Masks, cached.Masks);
        Assert.Equal(plain.Iou, cached.Iou);

        var viaContext = model.Predict(context, points, labels, EfficientSamTestSupport.ImageSize);
        var viaTensor = model.Predict(embedding, points, labels, EfficientSamTestSupport.ImageSize);
        Assert.Equal(viaTensor.LowResLogits.Data, viaContext.LowResLogits.Data);
        Assert.Throws<ArgumentException>(() => EfficientSamTestSupport.Model.Predict(
            EfficientSam.Load(EfficientSamTestSupport.StateDict).PrepareImage(embedding), points, labels, EfficientSamTestSupport.ImageSize));
    }
}
