using System.Text.Json;
using SegmentAnything.Checkpoints;
using SegmentAnything.Modeling;
using SegmentAnything.Tensors;
using SegmentAnything.Tests.Support;

namespace SegmentAnything.Tests.Modeling;

/// <summary>The EfficientSAM ViT-T fixture model, its reference outputs and its prompt cases.</summary>
internal static class EfficientSamTestSupport
{
    public const string ModelName = "efficient_sam_vitt_random";
    private static readonly object Gate = new();
    private static EfficientSam? _model;

    private static StateDict? _stateDict;

    /// <summary>The fixture checkpoint's state dict (read once).</summary>
    public static StateDict StateDict
    {
        get
        {
            lock (Gate) return _stateDict ??= CheckpointReader.Load(Fixtures.Path_($"models/{ModelName}.pt"));
        }
    }

    public static EfficientSam Model
    {
        get
        {
            var dict = StateDict;
            lock (Gate) return _model ??= EfficientSam.Load(dict);
        }
    }

    public static SafeTensorsFile Reference => Fixtures.Reference(ModelName);

    public static (int Height, int Width) ImageSize
    {
        get
        {
            var hw = Reference["image_hw"].Integers!;
            return ((int)hw[0], (int)hw[1]);
        }
    }

    public static Tensor ReferenceEmbedding
    {
        get
        {
            var e = Reference["embedding"];
            return new Tensor(e.Floats, e.Shape.Skip(1).ToArray());
        }
    }

    /// <summary>The points [queries, n, 2] and labels [queries, n] of manifest case <paramref name="name"/>.</summary>
    public static (float[,,] Points, int[,] Labels) Case(string name)
    {
        JsonElement model = Fixtures.Manifest.GetProperty("models").GetProperty(ModelName);
        JsonElement c = model.GetProperty("cases").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        var pts = c.GetProperty("points").EnumerateArray().Select(q => q.EnumerateArray().Select(p => p.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray()).ToArray();
        var lbl = c.GetProperty("labels").EnumerateArray().Select(q => q.EnumerateArray().Select(v => v.GetInt32()).ToArray()).ToArray();
        int queries = pts.Length, n = pts[0].Length;
        var points = new float[queries, n, 2];
        var labels = new int[queries, n];
        for (int q = 0; q < queries; q++)
            for (int i = 0; i < n; i++)
            {
                points[q, i, 0] = pts[q][i][0];
                points[q, i, 1] = pts[q][i][1];
                labels[q, i] = lbl[q][i];
            }
        return (points, labels);
    }

    public static string[] CaseNames()
    {
        JsonElement model = Fixtures.Manifest.GetProperty("models").GetProperty(ModelName);
        return model.GetProperty("cases").EnumerateArray().Select(e => e.GetProperty("name").GetString()!).ToArray();
    }
}
