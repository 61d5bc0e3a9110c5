using System.Buffers.Binary;
using System.Text;

namespace SegmentAnything.Tests.Checkpoints;

/// <summary>Test-only: emits pickle opcodes one by one, so tests can build both torch-like and hostile pickles.</summary>
public sealed class PickleWriter
{
    private readonly MemoryStream _s = new();

    public long Position => _s.Position;
    public byte[] ToArray() => _s.ToArray();

    public PickleWriter Raw(params byte[] bytes) { _s.Write(bytes); return this; }
    public PickleWriter Op(char op) => Raw((byte)op);

    public PickleWriter Proto(int p) => Raw(0x80, (byte)p);
    public PickleWriter Stop() => Op('.');
    public PickleWriter Pop() => Op('0');
    public PickleWriter Mark() => Op('(');
    public PickleWriter EmptyDict() => Op('}');
    public PickleWriter EmptyList() => Op(']');
    public PickleWriter EmptyTuple() => Op(')');
    public PickleWriter Tuple() => Op('t');
    public PickleWriter Tuple1() => Raw(0x85);
    public PickleWriter Tuple2() => Raw(0x86);
    public PickleWriter Tuple3() => Raw(0x87);
    public PickleWriter SetItem() => Op('s');
    public PickleWriter SetItems() => Op('u');
    public PickleWriter Append() => Op('a');
    public PickleWriter Appends() => Op('e');
    public PickleWriter Reduce() => Op('R');
    public PickleWriter Build() => Op('b');
    public PickleWriter NewObj() => Raw(0x81);
    public PickleWriter BinPersId() => Op('Q');
    public PickleWriter None() => Op('N');
    public PickleWriter Bool(bool b) => Raw(b ? (byte)0x88 : (byte)0x89);
    public PickleWriter Memoize() => Raw(0x94);

    public PickleWriter Put(int i) => i < 256 ? Raw((byte)'q', (byte)i) : Raw((byte)'r').U32((uint)i);
    public PickleWriter Get(int i) => i < 256 ? Raw((byte)'h', (byte)i) : Raw((byte)'j').U32((uint)i);

    public PickleWriter Int(long v)
    {
        if (v is >= 0 and < 256) return Raw((byte)'K', (byte)v);
        if (v is >= 0 and < 65536) { Raw((byte)'M'); Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)v); return Raw(b.ToArray()); }
        if (v is >= int.MinValue and <= int.MaxValue) { Raw((byte)'J'); Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteInt32LittleEndian(b, (int)v); return Raw(b.ToArray()); }
        var bytes = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, v);
        return Raw(0x8a, 8).Raw(bytes); // LONG1
    }

    public PickleWriter Float(double d) { Raw((byte)'G'); var b = new byte[8]; BinaryPrimitives.WriteDoubleBigEndian(b, d); return Raw(b); }

    public PickleWriter Str(string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        return Raw((byte)'X').U32((uint)b.Length).Raw(b);
    }

    public PickleWriter ShortStr(string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        return Raw(0x8c, (byte)b.Length).Raw(b);
    }

    public PickleWriter Global(string module, string name) => Op('c').Raw(Encoding.UTF8.GetBytes($"{module}\n{name}\n"));

    public PickleWriter StackGlobal(string module, string name) => ShortStr(module).ShortStr(name).Raw(0x93);

    public PickleWriter U32(uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); return Raw(b); }
    public PickleWriter U64(ulong v) { var b = new byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); return Raw(b); }

    public PickleWriter IntTuple(IReadOnlyList<long> values)
    {
        Mark();
        foreach (long v in values) Int(v);
        return Tuple();
    }
}
