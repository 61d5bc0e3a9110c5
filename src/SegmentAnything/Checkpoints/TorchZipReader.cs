using System.IO.Compression;
using System.Runtime.InteropServices;

namespace SegmentAnything.Checkpoints;

/// <summary>
/// PyTorch zip checkpoints as written by <c>torch.save</c> (<c>&lt;name&gt;/data.pkl</c> plus one
/// <c>&lt;name&gt;/data/&lt;key&gt;</c> record per storage), read with our own restricted unpickler. The file
/// is untrusted: nothing it names is executed, and every size it claims is checked against the bytes
/// actually present before anything is allocated for it.
/// </summary>
public static class TorchZipReader
{
    /// <summary>data.pkl of a real checkpoint is kilobytes (~100 KB for ViT-H); this only stops absurd ones.</summary>
    public const long MaxPickleBytes = 256L * 1024 * 1024;

    /// <summary>Deflate cannot expand data by more than about 1032:1; a larger claim is a lie or a bomb.</summary>
    private const long MaxDeflateRatio = 1032;

    /// <summary>The whole state dict, read into memory.</summary>
    public static StateDict Load(string path)
    {
        var dict = Open(path);
        foreach (var t in dict.Tensors.Values) _ = t.Floats;
        return dict;
    }

    /// <summary>
    /// The state dict with stored records of contiguous tensors left in the file until first used (positional
    /// reads); the file must stay in place meanwhile. Everything else is read at once.
    /// </summary>
    public static StateDict Open(string path)
    {
        if (!File.Exists(path)) throw new CheckpointException($"Checkpoint '{path}' does not exist.");
        Span<byte> head = stackalloc byte[512];
        int read = CheckpointFormat.ReadHead(path, head);
        var kind = CheckpointFormat.Sniff(head[..read]);
        if (kind != CheckpointFormat.Kind.Zip) throw CheckpointFormat.Unsupported(kind, path);

        FileStream fs;
        try { fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException($"Cannot read checkpoint '{path}': {e.Message}", e);
        }
        using (fs)
        {
            ZipArchive zip;
            try { zip = new ZipArchive(fs, ZipArchiveMode.Read, leaveOpen: true); }
            catch (Exception e) when (e is InvalidDataException or IOException or ArgumentException or NotSupportedException)
            {
                throw new CheckpointException($"{path}: corrupt or truncated zip archive: {e.Message}", e);
            }
            using (zip)
            {
                try { return Load(zip, fs.Length, path, ZipDataOffsets.Read(path)); }
                catch (Exception e) when (e is InvalidDataException or IOException or NotSupportedException)
                {
                    throw new CheckpointException($"{path}: corrupt zip archive: {e.Message}", e);
                }
            }
        }
    }

    private static StateDict Load(ZipArchive zip, long archiveBytes, string path, Dictionary<string, (long Offset, long Length)> inPlace)
    {
        var pickleEntry = FindDataPickle(zip, path);
        string prefix = pickleEntry.FullName[..^"data.pkl".Length];
        CheckByteOrder(zip, prefix, archiveBytes, path);

        string pickleWhere = $"{path}, entry '{pickleEntry.FullName}'";
        byte[] pickle = ReadEntry(pickleEntry, archiveBytes, MaxPickleBytes, pickleWhere, $"the pickle limit of {MaxPickleBytes} bytes");
        var storages = new Dictionary<string, TorchStorageRef>(StringComparer.Ordinal);
        object? root = PickleReader.Load(pickle, pickleWhere, (pid, ctx) => PersistentLoad(pid, ctx, storages));
        var named = StateDictLocator.Find(root, path);

        var tensors = new Dictionary<string, CheckpointTensor>(named.Count, StringComparer.Ordinal);
        // One read per storage: tensors sharing a storage (tied or sliced weights) decode from the same bytes.
        foreach (var group in named.GroupBy(n => n.Value.Storage.Key, StringComparer.Ordinal))
        {
            var storage = group.First().Value.Storage;
            string recordName = prefix + "data/" + storage.Key;
            var entry = zip.GetEntry(recordName)
                ?? throw new CheckpointException($"{path}: record '{recordName}' for tensor '{Printable(group.First().Key)}' is missing from the archive.");
            string where = $"{path}, entry '{recordName}'";
            var members = group.ToList();
            long needBytes = checked(storage.Numel * storage.DType.Size());
            if (TryLazy(entry, members, storage, needBytes, archiveBytes, path, where, inPlace, tensors)) continue;
            if (members.Count == 1 && TryReadWholeFloat32(entry, members[0].Value, archiveBytes, where) is { } direct)
            {
                tensors[members[0].Key] = direct;
                continue;
            }
            byte[] record = ReadEntry(entry, archiveBytes, Math.Min(needBytes, Array.MaxLength), where, $"the {needBytes} bytes its {storage.Numel} {storage.DType} elements need");
            if (record.Length < needBytes)
                throw new CheckpointException($"{where}: storage record is {record.Length} bytes but its {storage.Numel} {storage.DType} elements need {needBytes}.");
            foreach (var (name, t) in members)
            {
                // Re-checked against the record itself: the pickle's numel was only a claim.
                string? problem = TensorLimits.CheckView(t.Shape, t.Strides, t.Offset, record.Length / storage.DType.Size());
                if (problem is not null) throw new CheckpointException($"{where}: tensor '{Printable(name)}' {problem}.");
                tensors[name] = CheckpointTensor.Decode(record, storage.DType, ToInt(t.Shape), t.Strides, t.Offset);
            }
        }
        return new StateDict(OrderAsPickled(named, tensors), path);
    }

    /// <summary>
    /// The common case of stored (uncompressed) records of contiguous tensors: the tensors stay in the file and
    /// are read in place, with positional reads, when first used, so loading holds one tensor at a time.
    /// Anything unusual (compressed entries, strided views, a directory that disagrees with ZipArchive) takes
    /// the reading paths below.
    /// </summary>
    private static bool TryLazy(ZipArchiveEntry entry, List<KeyValuePair<string, TorchTensorRef>> members, TorchStorageRef storage, long needBytes,
        long archiveBytes, string path, string where, Dictionary<string, (long Offset, long Length)> inPlace, Dictionary<string, CheckpointTensor> tensors)
    {
        if (!BitConverter.IsLittleEndian || !inPlace.TryGetValue(entry.FullName, out var at)) return false;
        if (entry.CompressedLength != entry.Length || at.Length != entry.Length || entry.Length > archiveBytes) return false;
        if (entry.Length < needBytes)
            throw new CheckpointException($"{where}: storage record is {entry.Length} bytes but its {storage.Numel} {storage.DType} elements need {needBytes}.");
        int size = storage.DType.Size();
        foreach (var (name, t) in members)
        {
            string? problem = TensorLimits.CheckView(t.Shape, t.Strides, t.Offset, entry.Length / size);
            if (problem is not null) throw new CheckpointException($"{where}: tensor '{Printable(name)}' {problem}.");
            if (!IsContiguous(t.Shape, t.Strides)) return false;
        }
        foreach (var (name, t) in members)
        {
            int[] shape = ToInt(t.Shape);
            tensors[name] = new CheckpointTensor(storage.DType, shape, new FileRangeSource(path, at.Offset + t.Offset * size, storage.DType, shape));
        }
        return true;
    }

    private static Dictionary<string, CheckpointTensor> OrderAsPickled(List<KeyValuePair<string, TorchTensorRef>> named, Dictionary<string, CheckpointTensor> decoded)
    {
        var ordered = new Dictionary<string, CheckpointTensor>(named.Count, StringComparer.Ordinal);
        foreach (var (name, _) in named) ordered[name] = decoded[name];
        return ordered;
    }

    /// <summary>
    /// The common case of a float32 tensor covering its whole stored record: read the record straight into
    /// the tensor's array (no intermediate copy). Only when the zip header's size matches and the entry is
    /// stored uncompressed, so the allocation is bounded by the archive's real size.
    /// </summary>
    private static CheckpointTensor? TryReadWholeFloat32(ZipArchiveEntry entry, TorchTensorRef t, long archiveBytes, string where)
    {
        if (!BitConverter.IsLittleEndian || t.Storage.DType != DType.Float32 || t.Offset != 0) return null;
        long count = 1;
        foreach (long d in t.Shape) count *= d; // validated: fits an array
        if (count != t.Storage.Numel || count * 4 != entry.Length || entry.CompressedLength != entry.Length || entry.Length > archiveBytes) return null;
        if (!IsContiguous(t.Shape, t.Strides)) return null;
        // Every element is overwritten by the read below (or we throw), so skip zeroing gigabytes.
        var floats = GC.AllocateUninitializedArray<float>((int)count);
        try
        {
            using var s = entry.Open();
            int got = s.ReadAtLeast(MemoryMarshal.AsBytes(floats.AsSpan()), (int)entry.Length, throwOnEndOfStream: false);
            if (got < entry.Length) throw new CheckpointException($"{where}: record truncated: the zip header claims {entry.Length} bytes but only {got} could be read.");
            if (s.ReadByte() >= 0) throw new CheckpointException($"{where}: record holds more bytes than the zip header's {entry.Length}.");
        }
        catch (Exception e) when (e is InvalidDataException or IOException or NotSupportedException)
        {
            throw new CheckpointException($"{where}: corrupt zip entry: {e.Message}", e);
        }
        return new CheckpointTensor(DType.Float32, ToInt(t.Shape), floats);
    }

    private static bool IsContiguous(long[] shape, long[] strides)
    {
        long expected = 1;
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            if (shape[d] != 1 && strides[d] != expected) return false;
            expected *= shape[d];
        }
        return true;
    }

    private static ZipArchiveEntry FindDataPickle(ZipArchive zip, string path)
    {
        // The top folder is the name the file was saved under, so it varies; data.pkl sits directly inside it.
        var candidates = zip.Entries
            .Where(e => e.FullName.EndsWith("data.pkl", StringComparison.Ordinal)
                        && (e.FullName == "data.pkl" || (e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) && e.FullName.IndexOf('/') == e.FullName.Length - "/data.pkl".Length)))
            .ToList();
        if (candidates.Count == 0)
            throw new CheckpointException($"{path}: zip archive has no '<name>/data.pkl' entry, so it is not a PyTorch checkpoint ({zip.Entries.Count} entries).");
        if (candidates.Count > 1)
            throw new CheckpointException($"{path}: zip archive has several data.pkl entries ({string.Join(", ", candidates.Take(4).Select(c => Printable(c.FullName)))}).");
        return candidates[0];
    }

    private static void CheckByteOrder(ZipArchive zip, string prefix, long archiveBytes, string path)
    {
        var entry = zip.GetEntry(prefix + "byteorder");
        if (entry is null) return; // written by torch >= 1.13 only; older files are little-endian
        string where = $"{path}, entry '{entry.FullName}'";
        string order = System.Text.Encoding.ASCII.GetString(ReadEntry(entry, archiveBytes, 16, where, "16 bytes")).Trim();
        if (order != "little") throw new CheckpointException($"{where}: byte order '{Printable(order)}' is not supported (only little-endian).");
    }

    /// <summary>BINPERSID: <c>('storage', storage_type, key, location, numel)</c> names record data/&lt;key&gt;.</summary>
    private static object PersistentLoad(object? pid, PickleContext ctx, Dictionary<string, TorchStorageRef> storages)
    {
        if (pid is not PickleTuple { Count: 5 } t || t[0] is not "storage")
            throw ctx.Error($"persistent id is {PickleReader.Describe(pid)}, expected ('storage', type, key, location, numel)");
        if (t[1] is not PickleGlobal g || PickleAllowList.StorageDType(g) is not { } dtype)
            throw ctx.Error($"persistent id names storage type {PickleReader.Describe(t[1])}, not a supported typed storage");
        if (t[2] is not string key || key.Length == 0 || key.Length > 64)
            throw ctx.Error($"persistent id has storage key {PickleReader.Describe(t[2])}");
        string location = t[3] as string ?? throw ctx.Error($"persistent id has location {PickleReader.Describe(t[3])}");
        if (t[4] is not long numel || numel < 0 || numel > Array.MaxLength)
            throw ctx.Error($"storage '{Printable(key)}' claims {PickleReader.Describe(t[4])} elements");
        if (storages.TryGetValue(key, out var known))
        {
            if (known.DType != dtype || known.Numel != numel)
                throw ctx.Error($"storage '{Printable(key)}' is described twice differently ({known.DType} x {known.Numel}, then {dtype} x {numel})");
            return known;
        }
        return storages[key] = new TorchStorageRef(key, dtype, numel, location);
    }

    /// <summary>
    /// Reads a whole entry, at most <paramref name="limit"/> bytes and never more than the archive can
    /// really hold; buffers grow with the bytes actually read, not with the size the header claims.
    /// </summary>
    internal static byte[] ReadEntry(ZipArchiveEntry entry, long archiveBytes, long limit, string where, string limitWhat)
    {
        long claimed = entry.Length;
        long compressed = entry.CompressedLength;
        if (claimed < 0 || compressed < 0 || compressed > archiveBytes)
            throw new CheckpointException($"{where}: zip header claims {compressed} compressed bytes but the archive has {archiveBytes}.");
        long possible = compressed == claimed ? compressed : Math.Min(compressed * MaxDeflateRatio + 1024, Array.MaxLength);
        if (claimed > possible)
            throw new CheckpointException($"{where}: zip header claims {claimed} bytes, more than {compressed} compressed bytes can hold.");
        if (claimed > limit)
            throw new CheckpointException($"{where}: entry of {claimed} bytes is larger than {limitWhat}.");

        try { return ReadBounded(entry, claimed, compressed == claimed, where); }
        catch (Exception e) when (e is InvalidDataException or IOException or NotSupportedException)
        {
            throw new CheckpointException($"{where}: corrupt zip entry: {e.Message}", e);
        }
    }

    private static byte[] ReadBounded(ZipArchiveEntry entry, long claimed, bool stored, string where)
    {
        using var s = entry.Open();
        // Stored data is bounded by the archive itself; compressed data grows its buffer as it is inflated.
        var buffer = new byte[stored ? claimed : Math.Min(claimed, 1 << 20)];
        long total = 0;
        while (true)
        {
            if (total == buffer.Length)
            {
                if (total == claimed)
                {
                    if (s.ReadByte() >= 0) throw new CheckpointException($"{where}: entry holds more bytes than the zip header's {claimed}.");
                    return buffer;
                }
                Array.Resize(ref buffer, (int)Math.Min(claimed, Math.Max(2 * total, 1)));
            }
            int n = s.Read(buffer, (int)total, buffer.Length - (int)total);
            if (n == 0) throw new CheckpointException($"{where}: entry truncated: the zip header claims {claimed} bytes but only {total} could be read.");
            total += n;
        }
    }

    private static int[] ToInt(long[] shape) => Array.ConvertAll(shape, d => (int)d);

    private static string Printable(string s) => PickleAllowList.Printable(s);
}
