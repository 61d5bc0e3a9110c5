using System.Buffers.Binary;
using System.IO.Compression;
using SegmentAnything.Checkpoints;
using static SegmentAnything.Tests.Checkpoints.TorchCheckpointWriter;

namespace SegmentAnything.Tests.Checkpoints;

public class TorchZipReaderTests
{
    private static StateDict WriteAndLoad(TorchCheckpointWriter w, object root)
    {
        using var f = new TempFile();
        w.Write(f.Path, root);
        return CheckpointReader.Load(f.Path);
    }

    private static float[] Range(int n, float scale = 1f) => Enumerable.Range(0, n).Select(i => i * scale - 3f).ToArray();

    [Fact]
    public void ReadsContiguousFloat32()
    {
        var w = new TorchCheckpointWriter().Floats("0", Range(6));
        var sd = WriteAndLoad(w, Dict(("w", Contiguous("0", 2, 3))));
        Assert.Equal(new[] { 2, 3 }, sd.Get("w")!.Shape);
        Assert.Equal(Range(6), sd.Get("w")!.Floats);
    }

    [Fact]
    public void ReadsTransposedStrides()
    {
        // A 3x4 row-major matrix seen as its 4x3 transpose: strides (1, 4).
        var w = new TorchCheckpointWriter().Floats("0", Range(12));
        var sd = WriteAndLoad(w, Dict(("t", new TensorSpec("0", 0, [4, 3], [1, 4]))));
        var t = sd.Get("t")!;
        Assert.Equal(new[] { 4, 3 }, t.Shape);
        var src = Range(12);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 3; j++)
                Assert.Equal(src[j * 4 + i], t.Floats[i * 3 + j]);
    }

    [Fact]
    public void ReadsStridedSliceWithOffsetAndBroadcast()
    {
        var src = Range(30);
        var w = new TorchCheckpointWriter().Floats("0", src);
        var sd = WriteAndLoad(w, Dict(
            ("every_other", new TensorSpec("0", 1, [2, 3], [10, 2])),
            ("expanded", new TensorSpec("0", 7, [3, 2], [0, 1]))));
        Assert.Equal(new[] { src[1], src[3], src[5], src[11], src[13], src[15] }, sd.Get("every_other")!.Floats);
        Assert.Equal(new[] { src[7], src[8], src[7], src[8], src[7], src[8] }, sd.Get("expanded")!.Floats);
    }

    [Fact]
    public void ReadsStorageOffsetAndSharedStorage()
    {
        var src = Range(10);
        var w = new TorchCheckpointWriter().Floats("shared", src);
        var sd = WriteAndLoad(w, Dict(
            ("a", new TensorSpec("shared", 0, [2, 3], [3, 1])),
            ("b", new TensorSpec("shared", 6, [4], [1])),
            ("tied", new TensorSpec("shared", 0, [2, 3], [3, 1]))));
        Assert.Equal(src[..6], sd.Get("a")!.Floats);
        Assert.Equal(src[6..], sd.Get("b")!.Floats);
        Assert.Equal(src[..6], sd.Get("tied")!.Floats);
        Assert.Equal(new[] { "a", "b", "tied" }, sd.Keys);
    }

    [Fact]
    public void ReadsScalarAndEmptyTensors()
    {
        var w = new TorchCheckpointWriter().Floats("0", 2.5f).Floats("1");
        var sd = WriteAndLoad(w, Dict(("scalar", Contiguous("0")), ("empty", Contiguous("1", 0, 4))));
        Assert.Empty(sd.Get("scalar")!.Shape);
        Assert.Equal(new[] { 2.5f }, sd.Get("scalar")!.Floats);
        Assert.Equal(new[] { 0, 4 }, sd.Get("empty")!.Shape);
        Assert.Empty(sd.Get("empty")!.Floats);
    }

    public static TheoryData<DType> AllDTypes => new(Enum.GetValues<DType>());

    [Theory]
    [MemberData(nameof(AllDTypes))]
    public void ReadsEveryDType(DType dtype)
    {
        double[] values = dtype switch
        {
            DType.Bool => [1, 0, 1, 1],
            DType.UInt8 => [0, 7, 200, 255],
            DType.Int8 => [-128, -1, 0, 127],
            DType.Int16 => [-32768, -2, 3, 32767],
            DType.Int32 => [int.MinValue, -5, 6, int.MaxValue],
            DType.Int64 => [-(1L << 40), -1, 2, 1L << 40],
            _ => [1.5, -0.25, 65504, -3.140625],
        };
        int size = dtype.Size();
        var bytes = new byte[values.Length * size];
        for (int i = 0; i < values.Length; i++)
        {
            var b = bytes.AsSpan(i * size);
            double v = values[i];
            switch (dtype)
            {
                case DType.Float32: BinaryPrimitives.WriteSingleLittleEndian(b, (float)v); break;
                case DType.Float16: BinaryPrimitives.WriteHalfLittleEndian(b, (Half)v); break;
                case DType.BFloat16: BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)(BitConverter.SingleToUInt32Bits((float)v) >> 16)); break;
                case DType.Float64: BinaryPrimitives.WriteDoubleLittleEndian(b, v); break;
                case DType.Int64: BinaryPrimitives.WriteInt64LittleEndian(b, (long)v); break;
                case DType.Int32: BinaryPrimitives.WriteInt32LittleEndian(b, (int)v); break;
                case DType.Int16: BinaryPrimitives.WriteInt16LittleEndian(b, (short)v); break;
                case DType.Int8: b[0] = (byte)(sbyte)v; break;
                default: b[0] = (byte)v; break;
            }
        }
        // A bool storage byte other than 0/1 still means True.
        if (dtype == DType.Bool) bytes[2] = 9;
        var w = new TorchCheckpointWriter().Storage("0", dtype, bytes);
        var sd = WriteAndLoad(w, Dict(("x", Contiguous("0", 2, 2)), ("xt", new TensorSpec("0", 0, [2, 2], [1, 2]))));
        var x = sd.Get("x")!;
        Assert.Equal(dtype, x.DType);
        Assert.Equal(new[] { 2, 2 }, x.Shape);
        double[] expected = dtype == DType.BFloat16 ? values.Select(v => (double)BitConverter.Int32BitsToSingle((int)(BitConverter.SingleToUInt32Bits((float)v) & 0xFFFF0000))).ToArray() : values;
        Assert.Equal(expected.Select(v => (float)v), x.Floats);
        Assert.Equal(new[] { x.Floats[0], x.Floats[2], x.Floats[1], x.Floats[3] }, sd.Get("xt")!.Floats);
        if (dtype.IsFloating()) Assert.Null(x.Integers);
        else Assert.Equal(values.Select(v => (long)v), x.Integers!);
    }

    [Fact]
    public void UnwrapsModelKeyAndIgnoresNonTensorEntries()
    {
        var w = new TorchCheckpointWriter().Floats("0", 1, 2).Floats("1", 3);
        var sd = WriteAndLoad(w, Dict(
            ("epoch", 12L), ("arch", "vit_h"), ("lr", 0.5), ("done", true), ("none", null),
            ("model", Dict(("enc.w", Contiguous("0", 2)), ("dec.b", Contiguous("1", 1)), ("step", 3L)))));
        Assert.Equal(new[] { "enc.w", "dec.b" }, sd.Keys);
    }

    [Fact]
    public void UnwrapsStateDictKey()
    {
        var w = new TorchCheckpointWriter().Floats("0", 1, 2);
        var sd = WriteAndLoad(w, Dict(("optimizer", Dict(("lr", 0.1))), ("state_dict", Dict(("w", Contiguous("0", 2))))));
        Assert.Equal(new[] { "w" }, sd.Keys);
    }

    [Fact]
    public void FlattensNestedDictsWithDottedNames()
    {
        var w = new TorchCheckpointWriter().Floats("0", 1, 2).Floats("1", 3);
        var sd = WriteAndLoad(w, Dict(
            ("image_encoder", Dict(("patch_embed", Dict(("w", Contiguous("0", 2)))), ("meta", "x"))),
            ("mask_decoder", Dict(("b", Contiguous("1", 1))))));
        Assert.Equal(new[] { "image_encoder.patch_embed.w", "mask_decoder.b" }, sd.Keys);
    }

    [Fact]
    public void FindsStateDictInsideAList()
    {
        var w = new TorchCheckpointWriter().Floats("0", 1, 2);
        var sd = WriteAndLoad(w, Dict(("history", new List<object?> { 1L, Dict(("w", Contiguous("0", 2))) })));
        Assert.Equal(new[] { "w" }, sd.Keys);
    }

    [Fact]
    public void ReadsOrderedDictRootWithMetadataParametersAndAnyFolderName()
    {
        var w = new TorchCheckpointWriter { OrderedDictRoot = true, Folder = "my model v2" }.Floats("0", 1, 2, 3);
        var sd = WriteAndLoad(w, Dict(("p", Contiguous("0", 3) with { AsParameter = true })));
        Assert.Equal(new[] { 1f, 2f, 3f }, sd.Get("p")!.Floats);
    }

    [Fact]
    public void ReadsDeflatedEntries()
    {
        var w = new TorchCheckpointWriter { Compression = CompressionLevel.Optimal }.Floats("0", Range(1000)).Floats("1", Range(4));
        var sd = WriteAndLoad(w, Dict(("a", Contiguous("0", 10, 100)), ("b", Contiguous("1", 4))));
        Assert.Equal(Range(1000), sd.Get("a")!.Floats);
        Assert.Equal(Range(4), sd.Get("b")!.Floats);
    }

    [Fact]
    public void ReadsProtocol4OpcodesAndRebuildTensorV1()
    {
        // FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL, TUPLE2/3, torch._utils._rebuild_tensor, torch.Size.
        var p = new PickleWriter().Proto(4).Raw(0x95).U64(0).EmptyDict().Memoize()
            .ShortStr("w")
            .StackGlobal("torch._utils", "_rebuild_tensor").Memoize()
            .Mark()
            .Mark().ShortStr("storage").StackGlobal("torch", "FloatStorage").ShortStr("0").ShortStr("cpu").Int(4).Tuple().BinPersId()
            .Int(0)
            .StackGlobal("torch", "Size").Int(2).Int(2).Tuple2().Tuple1().Reduce()
            .Int(2).Int(1).Tuple2()
            .Tuple().Reduce()
            .SetItem().Stop().ToArray();
        var w = new TorchCheckpointWriter().Floats("0", 1, 2, 3, 4);
        using var f = new TempFile();
        w.WriteZip(f.Path, p);
        var sd = TorchZipReader.Load(f.Path);
        Assert.Equal(new[] { 2, 2 }, sd.Get("w")!.Shape);
        Assert.Equal(new[] { 1f, 2f, 3f, 4f }, sd.Get("w")!.Floats);
    }

    [Fact]
    public void KeepsLastValueForRepeatedKey()
    {
        var w = new TorchCheckpointWriter().Floats("0", 1).Floats("1", 2);
        var sd = WriteAndLoad(w, Dict(("w", Contiguous("0", 1)), ("w", Contiguous("1", 1))));
        Assert.Equal(new[] { 2f }, sd.Get("w")!.Floats);
        Assert.Single(sd.Keys);
    }

    [Fact]
    public void DecodesLargeContiguousBFloat16InBulk()
    {
        // Exercises the vector path of the bfloat16 widening, including a scalar tail.
        int n = 1000 + 3;
        var bytes = new byte[n * 2];
        var expected = new float[n];
        for (int i = 0; i < n; i++)
        {
            float v = (i - 500) * 0.37f;
            ushort bits = (ushort)(BitConverter.SingleToUInt32Bits(v) >> 16);
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 2), bits);
            expected[i] = BitConverter.Int32BitsToSingle(bits << 16);
        }
        var t = CheckpointTensor.Decode(bytes, DType.BFloat16, [n], [1], 0);
        Assert.Equal(expected, t.Floats);
    }
}
