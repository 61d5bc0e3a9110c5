using SegmentAnything.Checkpoints;
using SegmentAnything.Kernels;
using SegmentAnything.Modeling;
using SegmentAnything.Tensors;
using SegmentAnything.Tests.Support;
using static SegmentAnything.Tests.Modeling.TinyViTTestSupport;

namespace SegmentAnything.Tests.Modeling;

public class TinyViTTests
{
    [Fact]
    public void BatchNormFoldEqualsConvThenBatchNorm()
    {
        var rng = new Random(5);
        int cin = 6, cout = 4, h = 9, w = 7;
        var d = new Dictionary<string, CheckpointTensor>();
        AddConvBN(d, rng, "m", cin, cout, 3, 1);
        var binder = new WeightBinder(new StateDict(d, "test"));
        var folded = TinyViTConvBN.Load(binder, "m", cin, cout, 3, 2, 1, 1);
        binder.Complete("Conv2d_BN");
        float[] x = Random(rng, cin * h * w);
        float[] conv = new Conv2d(d["m.c.weight"].Floats, null, cin, cout, 3, 3, 2, 1).Forward(x, h, w);
        int pixels = conv.Length / cout;
        for (int o = 0; o < cout; o++)
            for (int p = 0; p < pixels; p++)
            {
                float v = conv[o * pixels + p];
                conv[o * pixels + p] = (v - d["m.bn.running_mean"].Floats[o]) / MathF.Sqrt(d["m.bn.running_var"].Floats[o] + 1e-5f)
                    * d["m.bn.weight"].Floats[o] + d["m.bn.bias"].Floats[o];
            }
        float[] actual = folded.Forward(x, h, w);
        Assert.True(Parity.RelativeL2(actual, conv) < 1e-6);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(7)]
    [InlineData(14)]
    public void BiasIndicesNumberOffsetsByFirstAppearance(int ws)
    {
        int[] idx = TinyViTAttention.BiasIndices(ws, ws, out int count);
        Assert.Equal(ws * ws, count);
        int n = ws * ws;
        // Brute-force the official loop: first appearance of each (|dy|, |dx|) over row-major pairs.
        var seen = new List<(int, int)>();
        for (int p1 = 0; p1 < n; p1++)
            for (int p2 = 0; p2 < n; p2++)
            {
                var off = (Math.Abs(p1 / ws - p2 / ws), Math.Abs(p1 % ws - p2 % ws));
                int id = seen.IndexOf(off);
                if (id < 0) { seen.Add(off); id = seen.Count - 1; }
                Assert.Equal(id, idx[p1 * n + p2]);
            }
        int[] rect = TinyViTAttention.BiasIndices(2, 3, out int rectCount);
        Assert.Equal(6, rectCount);
        Assert.Equal(36, rect.Length);
    }

    [Fact]
    public void SmallMatMulMatchesGemm()
    {
        var rng = new Random(3);
        foreach (var (m, k, n) in new[] { (49, 32, 49), (196, 32, 196), (5, 3, 7), (9, 196, 32), (4, 8, 17) })
        {
            float[] a = Random(rng, m * k), b = Random(rng, k * n);
            var expected = new float[m * n];
            var actual = new float[m * n];
            Gemm.MatMul(a, b, expected, m, k, n);
            TinyViTAttention.SmallMatMul(a, b, actual, m, k, n);
            Assert.True(Parity.RelativeL2(actual, expected) < 1e-6, $"{m}x{k}x{n}");
        }
    }

    [Theory]
    [InlineData(7, 5, 3, 4, 2)]   // padded on both sides, several windows
    [InlineData(6, 6, 3, 8, 2)]   // no padding
    [InlineData(4, 4, 4, 6, 3)]   // exactly one window (the official unpartitioned path)
    [InlineData(5, 9, 7, 4, 1)]   // one window larger than the map
    public void BlockMatchesLiteralOfficialOrder(int h, int w, int ws, int dim, int heads)
    {
        var rng = new Random(h * 100 + w * 10 + ws);
        var d = new Dictionary<string, CheckpointTensor>();
        AddBlock(d, rng, "b", dim, heads, ws);
        var binder = new WeightBinder(new StateDict(d, "test"));
        var block = TinyViTBlock.Load(binder, "b", dim);
        binder.Complete("TinyViTBlock");
        float[] x = Random(rng, h * w * dim, 2f);
        double[] expected = TinyViTNaiveReference.Block(d, "b", x.Select(v => (double)v).ToArray(), h, w, dim, heads, ws);
        float[] actual = block.Forward(x, h, w);
        Assert.True(Parity.RelativeL2(actual, expected.Select(v => (float)v).ToArray()) < 1e-5,
            $"relative L2 {Parity.RelativeL2(actual, expected.Select(v => (float)v).ToArray()):E2}");
    }

    [Fact]
    public void AcceptsAttentionBiasIdxsBufferWhateverItHolds()
    {
        var rng = new Random(11);
        var d = new Dictionary<string, CheckpointTensor>();
        AddBlock(d, rng, "b", 4, 2, 3);
        var plain = TinyViTBlock.Load(new WeightBinder(new StateDict(d, "t")), "b", 4);
        d["b.attn.attention_bias_idxs"] = CheckpointTensor.FromInt64(new long[81], 9, 9); // wrong on purpose
        var binder = new WeightBinder(new StateDict(d, "t"));
        var withBuffer = TinyViTBlock.Load(binder, "b", 4);
        binder.Complete("TinyViTBlock");
        float[] x = Random(rng, 5 * 4 * 4);
        Assert.Equal(plain.Forward(x, 5, 4), withBuffer.Forward(x, 5, 4));
    }

    [Fact]
    public void LoadInfersConfigurationAndRuns()
    {
        int[] dims = [8, 16, 24, 32], depths = [1, 2, 1, 1], heads = [0, 2, 3, 4], windows = [0, 3, 4, 2];
        var d = Model(1, dims, depths, heads, windows, neck: 12);
        var binder = new WeightBinder(new StateDict(d, "synthetic"));
        var model = TinyViT.Load(binder, imageSize: 64);
        binder.Complete("TinyViT");
        Assert.Equal(dims, model.EmbedDims);
        Assert.Equal(depths, model.Depths);
        Assert.Equal(heads, model.NumHeads);
        Assert.Equal(windows, model.WindowSizes);
        Assert.Equal(12, model.EmbeddingChannels);
        // 64 → 16 after the stem, then three stride-2 PatchMergings (none of the widths is 320/448/576).
        Assert.Equal(2, model.EmbeddingSize);

        var rec = new ActivationRecorder();
        var image = new Tensor(Random(new Random(2), 3 * 64 * 64), 3, 64, 64);
        Tensor emb = model.Forward(image, rec);
        Assert.Equal(new[] { 12, 2, 2 }, emb.Shape);
        Assert.Equal(new[] { 1, 8, 16, 16 }, rec.Activations["image_encoder.patch_embed"].Shape);
        Assert.Equal(new[] { 1, 64, 16 }, rec.Activations["image_encoder.layers.0"].Shape);
        Assert.Equal(new[] { 1, 16, 24 }, rec.Activations["image_encoder.layers.1"].Shape);
        Assert.Equal(new[] { 1, 4, 32 }, rec.Activations["image_encoder.layers.2"].Shape);
        Assert.Equal(new[] { 1, 4, 32 }, rec.Activations["image_encoder.layers.3"].Shape);
        Assert.Equal(new[] { 1, 12, 2, 2 }, rec.Activations["image_encoder.neck"].Shape);
        Assert.All(emb.Data, v => Assert.True(float.IsFinite(v)));
        Assert.Throws<ArgumentException>(() => model.Forward(new Tensor(3, 32, 32)));
    }

    [Fact]
    public void PatchMergingKeepsResolutionForTheOfficialLastWidths()
    {
        Assert.Equal(1, TinyViTPatchMerging.StrideFor(320));
        Assert.Equal(1, TinyViTPatchMerging.StrideFor(448));
        Assert.Equal(1, TinyViTPatchMerging.StrideFor(576));
        Assert.Equal(2, TinyViTPatchMerging.StrideFor(160));
        var d = Model(4, [8, 16, 24, 320], [1, 1, 1, 1], [0, 2, 3, 10], [0, 2, 2, 2], neck: 8);
        var binder = new WeightBinder(new StateDict(d, "synthetic"));
        var model = TinyViT.Load(binder, imageSize: 64);
        binder.Complete("TinyViT");
        Assert.Equal(4, model.EmbeddingSize);
    }

    [Fact]
    public void MisShapedCheckpointIsReportedByName()
    {
        var d = Model(1, [8, 16, 24, 32], [1, 1, 1, 1], [0, 2, 3, 4], [0, 3, 4, 2], neck: 12);
        d["image_encoder.layers.1.blocks.0.mlp.fc2.bias"] = CheckpointTensor.FromFloats(new float[5], 5);
        d.Remove("image_encoder.layers.2.blocks.0.attn.proj.weight");
        var binder = new WeightBinder(new StateDict(d, "bad.pt"));
        TinyViT.Load(binder, imageSize: 64);
        var ex = Assert.Throws<CheckpointException>(() => binder.Complete("TinyViT"));
        Assert.Contains("layers.1.blocks.0.mlp.fc2.bias", ex.Message);
        Assert.Contains("layers.2.blocks.0.attn.proj.weight", ex.Message);
    }

    [Fact]
    public void NonTinyViTCheckpointFailsClearly()
    {
        var d = new Dictionary<string, CheckpointTensor> { ["image_encoder.blocks.0.attn.qkv.weight"] = CheckpointTensor.FromFloats(new float[4], 2, 2) };
        var ex = Assert.Throws<CheckpointException>(() => TinyViT.Load(new WeightBinder(new StateDict(d, "vit.pt"))));
        Assert.Contains("patch_embed.seq.0.c.weight", ex.Message);
    }
}
