using SegmentAnything.Modeling;

namespace SegmentAnything.Tests.Modeling;

/// <summary>
/// Queries decoded side by side on the threads must give every query exactly the outputs it gets alone
/// (the parity tests check the batch against the reference; this pins the independence bit for bit).
/// </summary>
public class EfficientSamQueryBatchTests
{
    [SkippableFact]
    public void EachQueryOfABatchEqualsTheQueryAlone()
    {
        var model = EfficientSamTestSupport.Model;
        var context = model.PrepareImage(EfficientSamTestSupport.ReferenceEmbedding);
        var size = EfficientSamTestSupport.ImageSize;
        const int queries = 5, n = 3;
        var points = new float[queries, n, 2];
        var labels = new int[queries, n];
        for (int q = 0; q < queries; q++)
            for (int i = 0; i < n; i++)
            {
                points[q, i, 0] = (q * 37 + i * 53) % size.Width;
                points[q, i, 1] = (q * 71 + i * 29) % size.Height;
                // Different numbers of real points per query, the rest padding.
                labels[q, i] = i <= q % n ? (i == 2 ? 0 : 1) : -1;
            }
        var batch = model.Predict(context, points, labels, size);
        int m = model.MasksPerQuery, plane = batch.LowResLogits.Shape[^1] * batch.LowResLogits.Shape[^1];
        for (int q = 0; q < queries; q++)
        {
            var one = new float[1, n, 2];
            var oneLabels = new int[1, n];
            for (int i = 0; i < n; i++) (one[0, i, 0], one[0, i, 1], oneLabels[0, i]) = (points[q, i, 0], points[q, i, 1], labels[q, i]);
            var alone = model.Predict(context, one, oneLabels, size);
            Assert.Equal(alone.LowResLogits.Data, batch.LowResLogits.Data.AsSpan(q * m * plane, m * plane).ToArray());
            Assert.Equal(alone.Iou.Data, batch.Iou.Data.AsSpan(q * m, m).ToArray());
        }
    }
}
