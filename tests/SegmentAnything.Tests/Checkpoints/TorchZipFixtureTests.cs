using System.Buffers.Binary;
using System.IO.Compression;
using SegmentAnything.Checkpoints;
using SegmentAnything.Tests.Support;

namespace SegmentAnything.Tests.Checkpoints;

public class TorchZipFixtureTests
{
    /// <summary>Every data/N record of the archive must back at least one loaded tensor: nothing dropped.</summary>
    private static void AssertEveryRecordUsed(string path, StateDict sd)
    {
        using var zip = ZipFile.OpenRead(path);
        int records = zip.Entries.Count(e => e.FullName.Contains("/data/", StringComparison.Ordinal));
        Assert.True(sd.Tensors.Count >= records, $"{sd.Tensors.Count} tensors for {records} records");
    }

    private static byte[] Record(string path, string key)
    {
        using var zip = ZipFile.OpenRead(path);
        var e = zip.Entries.Single(x => x.FullName.EndsWith("/data/" + key, StringComparison.Ordinal));
        using var s = e.Open();
        var b = new byte[e.Length];
        s.ReadExactly(b);
        return b;
    }

    [SkippableFact]
    public void LoadsFloat32StateDict()
    {
        string path = Fixtures.Path_("models/sam_vit_mini_random.pt");
        var sd = CheckpointReader.Load(path);
        Assert.Equal(202, sd.Tensors.Count);
        AssertEveryRecordUsed(path, sd);
        var pos = sd.Get("image_encoder.pos_embed")!;
        Assert.Equal(new[] { 1, 64, 64, 64 }, pos.Shape);
        Assert.Equal(DType.Float32, pos.DType);
        // Independent decode of record 0 (pos_embed's storage) straight from the zip.
        var raw = Record(path, "0");
        Assert.Equal(raw.Length / 4, pos.Floats.Length);
        for (int i = 0; i < pos.Floats.Length; i += 997)
            Assert.Equal(BinaryPrimitives.ReadSingleLittleEndian(raw.AsSpan(i * 4)), pos.Floats[i]);
        Assert.Equal(new[] { 64, 3, 16, 16 }, sd.Get("image_encoder.patch_embed.proj.weight")!.Shape);
        Assert.Equal(new[] { 4, 256 }, sd.Get("mask_decoder.iou_prediction_head.layers.2.weight")!.Shape);
        Assert.Equal("image_encoder.pos_embed", sd.Keys.First());
        Assert.Equal("mask_decoder.iou_prediction_head.layers.2.bias", sd.Keys.Last());
    }

    [SkippableFact]
    public void LoadsFloat16StateDictWithInt64Buffers()
    {
        string path = Fixtures.Path_("models/mobile_sam_random.pt");
        var sd = CheckpointReader.Load(path);
        Assert.Equal(439, sd.Tensors.Count);
        AssertEveryRecordUsed(path, sd);
        var w = sd.Get("image_encoder.patch_embed.seq.0.c.weight")!;
        Assert.Equal(DType.Float16, w.DType);
        Assert.Equal(new[] { 32, 3, 3, 3 }, w.Shape);
        var raw = Record(path, "0");
        for (int i = 0; i < w.Floats.Length; i++)
            Assert.Equal((float)BinaryPrimitives.ReadHalfLittleEndian(raw.AsSpan(i * 2)), w.Floats[i]);
        Assert.Equal(new[] { 4, 49 }, sd.Get("image_encoder.layers.1.blocks.0.attn.attention_biases")!.Shape);
        var counters = sd.Tensors.Where(kv => kv.Value.DType == DType.Int64).ToList();
        Assert.NotEmpty(counters);
        Assert.All(counters, kv => Assert.NotNull(kv.Value.Integers));
    }

    [SkippableFact]
    public void LoadsWrappedBFloat16StateDict()
    {
        string path = Fixtures.Path_("models/efficient_sam_vitt_random.pt");
        var sd = CheckpointReader.Load(path);
        Assert.Equal(278, sd.Tensors.Count);
        AssertEveryRecordUsed(path, sd);
        Assert.DoesNotContain(sd.Keys, k => k.StartsWith("model.", StringComparison.Ordinal));
        var pos = sd.Get("image_encoder.pos_embed")!;
        Assert.Equal(DType.BFloat16, pos.DType);
        Assert.Equal(new[] { 1, 197, 192 }, pos.Shape);
        var raw = Record(path, "0");
        for (int i = 0; i < pos.Floats.Length; i++)
            Assert.Equal(BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(raw.AsSpan(i * 2)) << 16), pos.Floats[i]);
        Assert.Equal(new[] { 4, 256 }, sd.Get("mask_decoder.iou_prediction_head.fc.weight")!.Shape);
    }

    [SkippableFact]
    public void LoadsOrderedDictWithMetadata()
    {
        string path = Fixtures.Path_("models/sam_vit_shapes.pt");
        var sd = TorchZipReader.Load(path);
        Assert.Equal(188, sd.Tensors.Count);
        AssertEveryRecordUsed(path, sd);
        Assert.Equal(new[] { 1, 16, 16, 96 }, sd.Get("image_encoder.pos_embed")!.Shape);
        Assert.Equal(new[] { 4, 128 }, sd.Get("mask_decoder.iou_prediction_head.layers.2.weight")!.Shape);
        Assert.All(sd.Tensors.Values, t => Assert.Equal(DType.Float32, t.DType));
    }
}
