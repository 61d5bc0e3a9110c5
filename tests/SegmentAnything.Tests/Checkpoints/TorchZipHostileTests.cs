using System.Buffers.Binary;
using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using SegmentAnything.Checkpoints;
using static SegmentAnything.Tests.Checkpoints.TorchCheckpointWriter;

namespace SegmentAnything.Tests.Checkpoints;

/// <summary>Untrusted checkpoints: every one must fail with a CheckpointException saying what and where, quickly.</summary>
public class TorchZipHostileTests
{
    private static CheckpointException LoadFails(string path)
    {
        var sw = Stopwatch.StartNew();
        var e = Assert.Throws<CheckpointException>(() => CheckpointReader.Load(path));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"took {sw.Elapsed}");
        Assert.Contains(path, e.Message);
        return e;
    }

    private static CheckpointException PickleFails(byte[] pickle, TorchCheckpointWriter? w = null)
    {
        using var f = new TempFile();
        (w ?? new TorchCheckpointWriter()).WriteZip(f.Path, pickle);
        var e = LoadFails(f.Path);
        return e;
    }

    private static CheckpointException CheckpointFails(TorchCheckpointWriter w, object root)
    {
        using var f = new TempFile();
        w.Write(f.Path, root);
        return LoadFails(f.Path);
    }

    [Theory]
    [InlineData("os", "system")]
    [InlineData("posix", "system")]
    [InlineData("nt", "system")]
    [InlineData("subprocess", "Popen")]
    [InlineData("subprocess", "check_output")]
    [InlineData("builtins", "eval")]
    [InlineData("builtins", "exec")]
    [InlineData("__builtin__", "getattr")]
    [InlineData("builtins", "getattr")]
    [InlineData("copyreg", "_reconstructor")]
    [InlineData("torch", "load")]
    [InlineData("torch._utils", "_rebuild_tensor_v2x")]
    [InlineData("torch", "ComplexFloatStorage")]
    public void RejectsGlobalsOffTheAllowList(string module, string name)
    {
        var p = new PickleWriter().Proto(2).EmptyDict();
        long at = p.Position;
        p.Global(module, name).Str("echo pwned").Tuple1().Reduce().Stop();
        var e = PickleFails(p.ToArray());
        Assert.Contains($"'{module}.{name}'", e.Message);
        Assert.Contains($"pickle offset {at}", e.Message);
        Assert.Contains("data.pkl", e.Message);
    }

    [Fact]
    public void RejectsStackGlobalEval()
    {
        var p = new PickleWriter().Proto(4);
        long at = p.Position + 2 + "builtins".Length + 2 + "eval".Length;
        p.StackGlobal("builtins", "eval").ShortStr("__import__('os').system('x')").Tuple1().Reduce().Stop();
        var e = PickleFails(p.ToArray());
        Assert.Contains("'builtins.eval'", e.Message);
        Assert.Contains($"pickle offset {at}", e.Message);
    }

    [Fact]
    public void RejectsMaliciousGlobalInsideAnOtherwiseValidStateDict()
    {
        var w = new TorchCheckpointWriter().Floats("0", 1, 2);
        var p = new PickleWriter().Proto(2).EmptyDict().Mark()
            .Str("w").Global("os", "system").Str("rm -rf /").Tuple1().Reduce()
            .SetItems().Stop();
        Assert.Contains("'os.system'", PickleFails(p.ToArray(), w).Message);
    }

    [Theory]
    [InlineData(new byte[] { 0x80, 2, 0xFF }, "opcode 0xFF")]
    [InlineData(new byte[] { 0x80, 2, (byte)'i' }, "opcode 0x69")] // INST: the protocol-0 way to call a class
    [InlineData(new byte[] { 0x80, 2, (byte)'o' }, "opcode 0x6F")] // OBJ
    [InlineData(new byte[] { 0x80, 2, 0x82, 1 }, "opcode 0x82")] // EXT1
    [InlineData(new byte[] { 0x80, 9 }, "protocol 9")]
    public void RejectsUnknownOpcodes(byte[] pickle, string expected)
    {
        var e = PickleFails(pickle);
        Assert.Contains(expected, e.Message);
        Assert.Contains("pickle offset", e.Message);
    }

    [Fact]
    public void RejectsStackUnderflow()
    {
        var e = PickleFails(new PickleWriter().Proto(2).EmptyDict().SetItem().Stop().ToArray());
        Assert.Contains("stack underflow", e.Message);
        Assert.Contains("pickle offset 3", e.Message);
        e = PickleFails(new PickleWriter().Proto(2).Tuple().Stop().ToArray());
        Assert.Contains("no MARK", e.Message);
        e = PickleFails(new PickleWriter().Proto(2).Int(1).Mark().Tuple1().Stop().ToArray());
        Assert.Contains("stack underflow", e.Message);
    }

    [Fact]
    public void RejectsMemoIndexOutOfRange()
    {
        var e = PickleFails(new PickleWriter().Proto(2).EmptyDict().Put(0).Get(7).Stop().ToArray());
        Assert.Contains("memo index 7 out of range", e.Message);
        e = PickleFails(new PickleWriter().Proto(2).Get(100000).Stop().ToArray());
        Assert.Contains("memo index 100000", e.Message);
    }

    [Fact]
    public void RejectsPickleWithoutStopOrWithLeftovers()
    {
        Assert.Contains("without STOP", PickleFails(new PickleWriter().Proto(2).EmptyDict().ToArray()).Message);
        Assert.Contains("2 values on the stack", PickleFails(new PickleWriter().Proto(2).EmptyDict().EmptyDict().Stop().ToArray()).Message);
        Assert.Contains("truncated", PickleFails(new PickleWriter().Proto(2).Raw((byte)'J', 1, 2).ToArray()).Message);
    }

    [Fact]
    public void RejectsLengthsThatExceedThePickle()
    {
        var e = PickleFails(new PickleWriter().Proto(2).Raw((byte)'X').U32(uint.MaxValue).Raw(1, 2, 3).ToArray());
        Assert.Contains("claims 4294967295 bytes", e.Message);
        e = PickleFails(new PickleWriter().Proto(4).Raw(0x8d).U64(1UL << 62).ToArray());
        Assert.Contains($"claims {1UL << 62} bytes", e.Message);
        e = PickleFails(new PickleWriter().Proto(4).Raw(0x8e).U64(ulong.MaxValue).ToArray());
        Assert.Contains("BINBYTES8 claims", e.Message);
        e = PickleFails(new PickleWriter().Proto(4).Raw(0x95).U64(1UL << 40).ToArray());
        Assert.Contains("FRAME claims", e.Message);
        e = PickleFails(new PickleWriter().Proto(2).Raw(0x8b).U32(0x7FFFFFFF).ToArray());
        Assert.Contains("claims 2147483647 bytes", e.Message);
    }

    [Fact]
    public void RejectsUnboundedMarkStack()
    {
        var p = new PickleWriter().Proto(2);
        for (int i = 0; i < 50_000; i++) p.Mark();
        var e = PickleFails(p.Stop().ToArray());
        Assert.Contains("nested MARKs", e.Message);
    }

    [Fact]
    public void RejectsDeeplyNestedContainersWithoutRecursing()
    {
        // 200,000 nested one-element tuples: unpickling is iterative, and the search for the state dict is bounded.
        var p = new PickleWriter().Proto(2).EmptyDict();
        for (int i = 0; i < 200_000; i++) p.Tuple1();
        var e = PickleFails(p.Stop().ToArray());
        Assert.Contains("nested deeper than", e.Message);

        var d = new PickleWriter().Proto(2).EmptyDict();
        for (int i = 0; i < 100_000; i++) d.Str("k").EmptyDict();
        for (int i = 0; i < 100_000; i++) d.SetItem();
        e = PickleFails(d.Stop().ToArray());
        Assert.Contains("nested deeper than", e.Message);
    }

    [Fact]
    public void SurvivesCyclicAndExponentiallySharedContainers()
    {
        // A list that contains itself, then 60 levels of lists each holding the previous one twice.
        var p = new PickleWriter().Proto(2).EmptyList().Put(0).Get(0).Append();
        for (int i = 1; i <= 60; i++) p.Put(i).Pop().Mark().Get(i).Get(i).Raw((byte)'l');
        var e = PickleFails(p.Stop().ToArray());
        Assert.Contains("no dict of tensors", e.Message);

        var d = new PickleWriter().Proto(2).EmptyDict().Put(0).Str("self").Get(0).SetItem().Stop();
        e = PickleFails(d.ToArray());
        Assert.Contains("reached twice", e.Message);
    }

    [Fact]
    public void RejectsMissingDataPickle()
    {
        using var f = new TempFile();
        using (var zip = new ZipArchive(File.Create(f.Path), ZipArchiveMode.Create))
        {
            using var s = zip.CreateEntry("archive/data/0").Open();
            s.Write(new byte[16]);
        }
        var e = LoadFails(f.Path);
        Assert.Contains("no '<name>/data.pkl' entry", e.Message);
    }

    [Fact]
    public void RejectsMissingStorageRecord()
    {
        var w = new TorchCheckpointWriter().Floats("0", 1, 2);
        using var f = new TempFile();
        w.WriteZip(f.Path, w.Pickle(Dict(("weight", Contiguous("0", 2)))), includeRecords: false);
        var e = LoadFails(f.Path);
        Assert.Contains("record 'archive/data/0'", e.Message);
        Assert.Contains("'weight'", e.Message);
    }

    [Fact]
    public void RejectsTruncatedZipAtAnyPoint()
    {
        var w = new TorchCheckpointWriter().Floats("0", Enumerable.Range(0, 4096).Select(i => (float)i).ToArray());
        using var good = new TempFile();
        w.Write(good.Path, Dict(("w", Contiguous("0", 64, 64))));
        byte[] bytes = File.ReadAllBytes(good.Path);
        Assert.Equal(4096, CheckpointReader.Load(good.Path).Get("w")!.Floats.Length);
        foreach (int keep in new[] { 2, 4, 30, 100, bytes.Length / 2, bytes.Length - 200, bytes.Length - 22, bytes.Length - 1 })
        {
            using var f = new TempFile();
            File.WriteAllBytes(f.Path, bytes[..keep]);
            var e = LoadFails(f.Path);
            Assert.Matches("zip|not a PyTorch", e.Message);
        }
    }

    [Fact]
    public void RejectsCorruptRecordData()
    {
        // Deflated entries whose compressed bytes are overwritten: the inflater's error is wrapped.
        var w = new TorchCheckpointWriter { Compression = CompressionLevel.Optimal }.Floats("0", Enumerable.Range(0, 4096).Select(i => (float)(i % 7)).ToArray());
        using var f = new TempFile();
        w.Write(f.Path, Dict(("w", Contiguous("0", 4096))));
        byte[] bytes = File.ReadAllBytes(f.Path);
        int at = IndexOf(bytes, "archive/data/0"u8) + "archive/data/0".Length;
        for (int i = at; i < at + 40; i++) bytes[i] ^= 0x5A;
        File.WriteAllBytes(f.Path, bytes);
        var e = LoadFails(f.Path);
        Assert.Contains("archive/data/0", e.Message);
    }

    [Fact]
    public void RejectsStorageRecordShorterThanItsTensor()
    {
        // The pickle claims 8 elements and a [2, 4] tensor, but the record holds only 5 floats.
        var w = new TorchCheckpointWriter().Floats("0", 1, 2, 3, 4, 5);
        w.ClaimedNumel["0"] = 8;
        var e = CheckpointFails(w, Dict(("w", Contiguous("0", 2, 4))));
        Assert.Contains("archive/data/0", e.Message);
        Assert.Contains("20 bytes", e.Message);
        Assert.Contains("need 32", e.Message);
    }

    [Fact]
    public void RejectsViewsOutsideTheirStorage()
    {
        var w = new TorchCheckpointWriter().Floats("0", 1, 2, 3, 4, 5, 6);
        // offset + max index over strides = 2 + (2-1)*3 + (2-1)*1 = 6 >= 6 elements
        var e = CheckpointFails(w, Dict(("w", new TensorSpec("0", 2, [2, 2], [3, 1]))));
        Assert.Contains("reads element 6 but the storage holds 6", e.Message);
        Assert.Contains("pickle offset", e.Message);
        e = CheckpointFails(w, Dict(("w", new TensorSpec("0", 0, [2, 3], [1, 100]))));
        Assert.Contains("stride [1, 100]", e.Message);
        e = CheckpointFails(w, Dict(("w", new TensorSpec("0", 7, [0], [1]))));
        Assert.Contains("offset 7", e.Message);
    }

    [Fact]
    public void RejectsNegativeOrAbsurdShapesAndStrides()
    {
        var w = new TorchCheckpointWriter().Floats("0", 1, 2, 3, 4);
        Assert.Contains("negative dimension -2", CheckpointFails(w, Dict(("w", new TensorSpec("0", 0, [-2, 2], [2, 1])))).Message);
        Assert.Contains("negative stride -1", CheckpointFails(w, Dict(("w", new TensorSpec("0", 3, [4], [-1])))).Message);
        Assert.Contains("storage offset int -1 is not a non-negative integer", CheckpointFails(w, Dict(("w", new TensorSpec("0", -1, [1], [1])))).Message);
        Assert.Contains("absurd dimension", CheckpointFails(w, Dict(("w", new TensorSpec("0", 0, [1L << 40], [0])))).Message);
        Assert.Contains("more elements than an array", CheckpointFails(w, Dict(("w", new TensorSpec("0", 0, [1 << 20, 1 << 20], [0, 0])))).Message);
        Assert.Contains("size has 40 dimensions (at most 32)", CheckpointFails(w, Dict(("w", new TensorSpec("0", 0, new long[40], new long[40])))).Message);
        Assert.Contains("size has 1 dimensions but stride has 2", CheckpointFails(w, Dict(("w", new TensorSpec("0", 0, [4], [1, 1])))).Message);
    }

    [Fact]
    public void RejectsHugeClaimedNumelWithoutAllocatingIt()
    {
        // 2^31 - 1000 floats (8 GB) claimed for a 16-byte record: must fail on the record length, not by allocating.
        var w = new TorchCheckpointWriter().Floats("0", 1, 2, 3, 4);
        long claimed = Array.MaxLength - 1000;
        w.ClaimedNumel["0"] = claimed;
        long before = GC.GetTotalAllocatedBytes(precise: true);
        var e = CheckpointFails(w, Dict(("w", Contiguous("0", claimed))));
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.Contains("16 bytes", e.Message);
        Assert.True(allocated < 64 << 20, $"allocated {allocated} bytes");

        w.ClaimedNumel["0"] = 1L << 40;
        e = CheckpointFails(w, Dict(("w", Contiguous("0", 4))));
        Assert.Contains($"claims int {1L << 40} elements", e.Message);
    }

    [Fact]
    public void RejectsZipHeadersThatLieAboutSizes()
    {
        var w = new TorchCheckpointWriter().Floats("0", Enumerable.Range(0, 256).Select(i => (float)i).ToArray());
        using var good = new TempFile();
        w.Write(good.Path, Dict(("w", Contiguous("0", 256))));
        byte[] bytes = File.ReadAllBytes(good.Path);
        int central = FindCentralEntry(bytes, "archive/data/0");
        foreach (var (field, value) in new[] { (24, 4096u), (20, 4096u), (24, 512u), (20, 0x7FFFFFF0u), (24, 0xFFFFFFF0u) })
        {
            var copy = (byte[])bytes.Clone();
            BinaryPrimitives.WriteUInt32LittleEndian(copy.AsSpan(central + field), value);
            using var f = new TempFile();
            File.WriteAllBytes(f.Path, copy);
            var e = LoadFails(f.Path);
            Assert.Matches("zip|archive/data/0", e.Message);
        }
    }

    [Fact]
    public void RejectsBadPersistentIds()
    {
        var p = new PickleWriter().Proto(2).EmptyDict().Str("w").Mark().Str("module").Str("x").Tuple().BinPersId().SetItem().Stop();
        Assert.Contains("persistent id is a tuple of 2 items", PickleFails(p.ToArray()).Message);
        p = new PickleWriter().Proto(2).Mark().Str("storage").Global("torch", "Size").Str("0").Str("cpu").Int(4).Tuple().BinPersId().Stop();
        Assert.Contains("storage type global torch.Size", PickleFails(p.ToArray()).Message);
    }

    [Fact]
    public void RejectsWrongRebuildArguments()
    {
        var p = new PickleWriter().Proto(2).Global("torch._utils", "_rebuild_tensor_v2").Mark().Int(1).Int(2).Tuple().Reduce().Stop();
        Assert.Contains("called with 2 arguments", PickleFails(p.ToArray()).Message);
        p = new PickleWriter().Proto(2).Global("torch._utils", "_rebuild_tensor_v2").Mark().Int(1).Int(0).EmptyTuple().EmptyTuple().Bool(false).None().Tuple().Reduce().Stop();
        Assert.Contains("not a storage", PickleFails(p.ToArray()).Message);
        p = new PickleWriter().Proto(2).Global("torch", "FloatStorage").EmptyTuple().Reduce().Stop();
        Assert.Contains("torch.FloatStorage cannot be called", PickleFails(p.ToArray()).Message);
        p = new PickleWriter().Proto(2).Str("x").EmptyTuple().Reduce().Stop();
        Assert.Contains("not a callable global", PickleFails(p.ToArray()).Message);
    }

    [Fact]
    public void RejectsLegacyPickleFormat()
    {
        using var f = new TempFile();
        // torch's pre-1.6 format starts with a protocol-2 pickle of its magic number 0x1950a86a20f9469cfc6c.
        File.WriteAllBytes(f.Path, [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]);
        Assert.Contains("legacy (non-zip)", LoadFails(f.Path).Message);
        Assert.Contains("legacy (non-zip)", Assert.Throws<CheckpointException>(() => TorchZipReader.Load(f.Path)).Message);
    }

    [Fact]
    public void RejectsLegacyTarFormat()
    {
        using var f = new TempFile();
        using (var tar = new TarWriter(File.Create(f.Path), TarEntryFormat.Ustar, leaveOpen: false))
        {
            foreach (var name in new[] { "sys_info", "pickle", "storages", "tensors" })
                tar.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(new byte[8]) });
        }
        Assert.Contains("legacy tar-format", LoadFails(f.Path).Message);
    }

    [Fact]
    public void RejectsGarbageAndEmptyFiles()
    {
        using var f = new TempFile();
        File.WriteAllBytes(f.Path, Encoding.ASCII.GetBytes("PK\x03\x04 this is not really a zip file at all"));
        Assert.Contains("zip", LoadFails(f.Path).Message);
        File.WriteAllBytes(f.Path, []);
        Assert.Contains("not a PyTorch zip checkpoint", LoadFails(f.Path).Message);
        Assert.Contains("does not exist", Assert.Throws<CheckpointException>(() => CheckpointReader.Load(f.Path + ".missing")).Message);
    }

    [Fact]
    public void RejectsBigEndianCheckpoints()
    {
        var w = new TorchCheckpointWriter().Floats("0", 1);
        using var f = new TempFile();
        w.Write(f.Path, Dict(("w", Contiguous("0", 1))));
        using (var zip = new ZipArchive(File.Open(f.Path, FileMode.Open), ZipArchiveMode.Update))
        {
            using var s = zip.CreateEntry("archive/byteorder").Open();
            s.Write("big"u8);
        }
        Assert.Contains("byte order 'big'", LoadFails(f.Path).Message);
    }

    private static int IndexOf(byte[] haystack, ReadOnlySpan<byte> needle) => haystack.AsSpan().IndexOf(needle);

    /// <summary>Offset of the central-directory header (PK\x01\x02) naming <paramref name="name"/>.</summary>
    private static int FindCentralEntry(byte[] zip, string name)
    {
        byte[] n = Encoding.ASCII.GetBytes(name);
        for (int i = 0; i + 46 + n.Length <= zip.Length; i++)
            if (zip[i] == 'P' && zip[i + 1] == 'K' && zip[i + 2] == 1 && zip[i + 3] == 2 && zip.AsSpan(i + 46, n.Length).SequenceEqual(n))
                return i;
        throw new InvalidOperationException("central entry not found");
    }
}
