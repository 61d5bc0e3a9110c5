using System.Buffers.Binary;

namespace SegmentAnything.Checkpoints;

/// <summary>
/// Where each stored (uncompressed) entry's bytes begin in a zip file, which <see cref="System.IO.Compression"/>
/// does not expose: lets a checkpoint's tensors be read in place, one at a time, with positional reads.
/// Only a lookup: the archive has already been opened and validated by <c>ZipArchive</c>, and any entry
/// whose records disagree with it, or that is compressed, is simply absent (its reader falls back to
/// <c>ZipArchive</c>).
/// </summary>
internal static class ZipDataOffsets
{
    private const uint EndSignature = 0x06054b50, Zip64EndSignature = 0x06064b50, Zip64LocatorSignature = 0x07064b50;
    private const uint CentralSignature = 0x02014b50, LocalSignature = 0x04034b50;

    /// <summary>Entry name → (offset of its data, stored size). Empty when the directory cannot be read.</summary>
    public static Dictionary<string, (long Offset, long Length)> Read(string path)
    {
        var result = new Dictionary<string, (long, long)>(StringComparer.Ordinal);
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            long fileLength = RandomAccess.GetLength(handle);
            if (!FindDirectory(handle, fileLength, out long dirOffset, out long dirSize, out long count)) return result;
            if (dirOffset < 0 || dirSize < 0 || dirSize > 256L << 20 || dirOffset + dirSize > fileLength) return result;
            var dir = new byte[dirSize];
            if (!ReadExactly(handle, dir, dirOffset)) return result;
            Span<byte> local = stackalloc byte[30];
            int p = 0;
            for (long i = 0; i < count && p + 46 <= dir.Length; i++)
            {
                var e = dir.AsSpan(p);
                if (BinaryPrimitives.ReadUInt32LittleEndian(e) != CentralSignature) return result;
                ushort method = BinaryPrimitives.ReadUInt16LittleEndian(e[10..]);
                long comp = BinaryPrimitives.ReadUInt32LittleEndian(e[20..]);
                long size = BinaryPrimitives.ReadUInt32LittleEndian(e[24..]);
                int nameLen = BinaryPrimitives.ReadUInt16LittleEndian(e[28..]), extraLen = BinaryPrimitives.ReadUInt16LittleEndian(e[30..]), commentLen = BinaryPrimitives.ReadUInt16LittleEndian(e[32..]);
                long localOffset = BinaryPrimitives.ReadUInt32LittleEndian(e[42..]);
                if (46 + nameLen + extraLen + commentLen > e.Length) return result;
                string name = System.Text.Encoding.UTF8.GetString(e.Slice(46, nameLen));
                ReadZip64Extra(e.Slice(46 + nameLen, extraLen), ref size, ref comp, ref localOffset);
                p += 46 + nameLen + extraLen + commentLen;
                if (method != 0 || comp != size || localOffset < 0 || localOffset + 30 > fileLength) continue;
                if (!ReadExactly(handle, local, localOffset) || BinaryPrimitives.ReadUInt32LittleEndian(local) != LocalSignature) continue;
                long data = localOffset + 30 + BinaryPrimitives.ReadUInt16LittleEndian(local[26..]) + BinaryPrimitives.ReadUInt16LittleEndian(local[28..]);
                if (data + size > fileLength) continue;
                result[name] = (data, size);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { result.Clear(); }
        return result;
    }

    private static bool FindDirectory(Microsoft.Win32.SafeHandles.SafeFileHandle handle, long fileLength, out long offset, out long size, out long count)
    {
        offset = size = count = 0;
        int tail = (int)Math.Min(fileLength, 22 + 65535 + 20);
        var buf = new byte[tail];
        if (!ReadExactly(handle, buf, fileLength - tail)) return false;
        int at = -1;
        for (int i = tail - 22; i >= 0; i--)
            if (BinaryPrimitives.ReadUInt32LittleEndian(buf.AsSpan(i)) == EndSignature) { at = i; break; }
        if (at < 0) return false;
        var end = buf.AsSpan(at);
        count = BinaryPrimitives.ReadUInt16LittleEndian(end[10..]);
        size = BinaryPrimitives.ReadUInt32LittleEndian(end[12..]);
        offset = BinaryPrimitives.ReadUInt32LittleEndian(end[16..]);
        if (count != 0xFFFF && size != 0xFFFFFFFF && offset != 0xFFFFFFFF) return true;
        // Zip64: the locator sits just before the end record and points at the zip64 end record.
        if (at < 20 || BinaryPrimitives.ReadUInt32LittleEndian(buf.AsSpan(at - 20)) != Zip64LocatorSignature) return false;
        long z64 = BinaryPrimitives.ReadInt64LittleEndian(buf.AsSpan(at - 12));
        Span<byte> rec = stackalloc byte[56];
        if (z64 < 0 || z64 + 56 > fileLength || !ReadExactly(handle, rec, z64) || BinaryPrimitives.ReadUInt32LittleEndian(rec) != Zip64EndSignature) return false;
        count = BinaryPrimitives.ReadInt64LittleEndian(rec[32..]);
        size = BinaryPrimitives.ReadInt64LittleEndian(rec[40..]);
        offset = BinaryPrimitives.ReadInt64LittleEndian(rec[48..]);
        return true;
    }

    /// <summary>The zip64 extra field (id 1) holds, in order, whichever of size, compressed size and offset are 0xFFFFFFFF.</summary>
    private static void ReadZip64Extra(ReadOnlySpan<byte> extra, ref long size, ref long comp, ref long offset)
    {
        while (extra.Length >= 4)
        {
            ushort id = BinaryPrimitives.ReadUInt16LittleEndian(extra);
            int len = BinaryPrimitives.ReadUInt16LittleEndian(extra[2..]);
            if (4 + len > extra.Length) return;
            if (id == 1)
            {
                var f = extra.Slice(4, len);
                if (size == 0xFFFFFFFF && f.Length >= 8) { size = BinaryPrimitives.ReadInt64LittleEndian(f); f = f[8..]; }
                if (comp == 0xFFFFFFFF && f.Length >= 8) { comp = BinaryPrimitives.ReadInt64LittleEndian(f); f = f[8..]; }
                if (offset == 0xFFFFFFFF && f.Length >= 8) offset = BinaryPrimitives.ReadInt64LittleEndian(f);
                return;
            }
            extra = extra[(4 + len)..];
        }
    }

    private static bool ReadExactly(Microsoft.Win32.SafeHandles.SafeFileHandle handle, Span<byte> buffer, long offset)
    {
        while (!buffer.IsEmpty)
        {
            int n = RandomAccess.Read(handle, buffer, offset);
            if (n <= 0) return false;
            buffer = buffer[n..];
            offset += n;
        }
        return true;
    }
}
