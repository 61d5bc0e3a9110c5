using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace SegmentAnything.Checkpoints;

/// <summary>Where the unpickler is (file, entry and opcode offset), to build error messages.</summary>
internal sealed class PickleContext(string where)
{
    public string Where { get; } = where;
    public long Offset { get; set; }

    public CheckpointException Error(string message) => new($"{Where}: pickle offset {Offset}: {message}.");
}

/// <summary>
/// A restricted unpickler for the opcodes <c>torch.save</c> emits (protocols 2 to 5). It builds inert
/// values only (see PickleValues.cs); globals are checked against <see cref="PickleAllowList"/> when
/// named. Every loop is bounded by the input length, the mark stack by <see cref="MaxMarkDepth"/>, and
/// every length field is checked against the bytes actually present before anything is allocated.
/// </summary>
internal sealed class PickleReader
{
    public const int MaxMarkDepth = 10_000;
    private const int MaxGlobalLineBytes = 1024;

    private readonly byte[] _data;
    private readonly PickleContext _ctx;
    private readonly Func<object?, PickleContext, object?> _persistentLoad;
    private readonly List<object?> _stack = [];
    private readonly List<int> _marks = [];
    private readonly Dictionary<long, object?> _memo = new();
    private int _pos;

    private PickleReader(byte[] data, string where, Func<object?, PickleContext, object?> persistentLoad)
    {
        _data = data;
        _ctx = new PickleContext(where);
        _persistentLoad = persistentLoad;
    }

    /// <summary>Unpickles <paramref name="data"/>; <paramref name="persistentLoad"/> resolves BINPERSID ids.</summary>
    public static object? Load(byte[] data, string where, Func<object?, PickleContext, object?> persistentLoad) =>
        new PickleReader(data, where, persistentLoad).Run();

    /// <summary>A short, non-recursive description of a value for error messages.</summary>
    public static string Describe(object? v) => v switch
    {
        null => "None",
        bool b => b ? "True" : "False",
        long l => $"int {l}",
        BigInteger => "a big int",
        double d => $"float {d}",
        string s => $"str '{PickleAllowList.Printable(s)}'",
        byte[] b => $"bytes of length {b.Length}",
        List<object?> l => $"a list of {l.Count} items",
        PickleTuple t => $"a tuple of {t.Count} items",
        PickleDict d => $"a dict of {d.Entries.Count} items",
        PickleSet => "a set",
        PickleGlobal g => $"global {g}",
        TorchStorageRef s => $"storage '{s.Key}'",
        TorchTensorRef => "a tensor",
        PickleObject o => $"a {o.Type} object",
        _ => v.GetType().Name,
    };

    private object? Run()
    {
        while (true)
        {
            if (_pos >= _data.Length) throw Error($"pickle ends without STOP after {_data.Length} bytes");
            _ctx.Offset = _pos;
            byte op = _data[_pos++];
            switch (op)
            {
                case 0x80: // PROTO
                    {
                        int proto = ReadByte();
                        if (proto > 5) throw Error($"unsupported pickle protocol {proto}");
                        break;
                    }
                case 0x95: // FRAME: framing is a hint for buffered readers; only its length needs checking.
                    {
                        ulong len = BinaryPrimitives.ReadUInt64LittleEndian(Take(8));
                        if (len > (ulong)(_data.Length - _pos)) throw Error($"FRAME claims {len} bytes but only {_data.Length - _pos} remain");
                        break;
                    }
                case (byte)'.': // STOP
                    if (_marks.Count != 0) throw Error("STOP with an unclosed MARK");
                    if (_stack.Count != 1) throw Error($"STOP with {_stack.Count} values on the stack (expected 1)");
                    return _stack[0];
                case (byte)'(': // MARK
                    if (_marks.Count >= MaxMarkDepth) throw Error($"more than {MaxMarkDepth} nested MARKs");
                    _marks.Add(_stack.Count);
                    break;
                case (byte)'0': Pop(); break; // POP
                case (byte)'1': PopMark(); break; // POP_MARK
                case (byte)'2': Push(Peek()); break; // DUP
                case (byte)'N': Push(null); break;
                case 0x88: Push(true); break; // NEWTRUE
                case 0x89: Push(false); break; // NEWFALSE
                case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break; // BININT
                case (byte)'K': Push((long)ReadByte()); break; // BININT1
                case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break; // BININT2
                case 0x8a: Push(ReadLong(ReadByte())); break; // LONG1
                case 0x8b: // LONG4
                    {
                        int n = BinaryPrimitives.ReadInt32LittleEndian(Take(4));
                        if (n < 0) throw Error($"LONG4 with negative length {n}");
                        Push(ReadLong(n));
                        break;
                    }
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break; // BINFLOAT
                case (byte)'X': Push(ReadUtf8(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))); break; // BINUNICODE
                case 0x8c: Push(ReadUtf8(ReadByte())); break; // SHORT_BINUNICODE
                case 0x8d: Push(ReadUtf8(BinaryPrimitives.ReadUInt64LittleEndian(Take(8)))); break; // BINUNICODE8
                case (byte)'T': // BINSTRING (Python 2 str): latin-1, as torch.load's default encoding does
                    {
                        int n = BinaryPrimitives.ReadInt32LittleEndian(Take(4));
                        if (n < 0) throw Error($"BINSTRING with negative length {n}");
                        Push(Encoding.Latin1.GetString(TakeClaimed((ulong)n, "BINSTRING")));
                        break;
                    }
                case (byte)'U': Push(Encoding.Latin1.GetString(TakeClaimed(ReadByte(), "SHORT_BINSTRING"))); break;
                case (byte)'C': Push(TakeClaimed(ReadByte(), "SHORT_BINBYTES").ToArray()); break;
                case (byte)'B': Push(TakeClaimed(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)), "BINBYTES").ToArray()); break;
                case 0x8e: Push(TakeClaimed(BinaryPrimitives.ReadUInt64LittleEndian(Take(8)), "BINBYTES8").ToArray()); break;
                case 0x96: Push(TakeClaimed(BinaryPrimitives.ReadUInt64LittleEndian(Take(8)), "BYTEARRAY8").ToArray()); break;
                case (byte)'}': Push(new PickleDict()); break; // EMPTY_DICT
                case (byte)']': Push(new List<object?>()); break; // EMPTY_LIST
                case (byte)')': Push(new PickleTuple([])); break; // EMPTY_TUPLE
                case 0x8f: Push(new PickleSet()); break; // EMPTY_SET
                case 0x85: Push(new PickleTuple(PopN(1))); break; // TUPLE1
                case 0x86: Push(new PickleTuple(PopN(2))); break; // TUPLE2
                case 0x87: Push(new PickleTuple(PopN(3))); break; // TUPLE3
                case (byte)'t': Push(new PickleTuple(PopMark())); break; // TUPLE
                case (byte)'l': Push(new List<object?>(PopMark())); break; // LIST
                case (byte)'d': // DICT
                    {
                        var items = PopMark();
                        var dict = new PickleDict();
                        SetItems(dict, items);
                        Push(dict);
                        break;
                    }
                case 0x91: // FROZENSET
                    {
                        var set = new PickleSet();
                        set.Items.AddRange(PopMark());
                        Push(set);
                        break;
                    }
                case (byte)'a': // APPEND
                    {
                        var v = Pop();
                        AsList(Peek(), "APPEND").Add(v);
                        break;
                    }
                case (byte)'e': // APPENDS
                    {
                        var items = PopMark();
                        AsList(Peek(), "APPENDS").AddRange(items);
                        break;
                    }
                case 0x90: // ADDITEMS
                    {
                        var items = PopMark();
                        if (Peek() is not PickleSet set) throw Error($"ADDITEMS on {Describe(Peek())}");
                        set.Items.AddRange(items);
                        break;
                    }
                case (byte)'s': // SETITEM
                    {
                        var v = Pop();
                        var k = Pop();
                        AsDict(Peek(), "SETITEM").Set(k, v);
                        break;
                    }
                case (byte)'u': // SETITEMS
                    {
                        var items = PopMark();
                        SetItems(AsDict(Peek(), "SETITEMS"), items);
                        break;
                    }
                case (byte)'q': Put(ReadByte()); break; // BINPUT
                case (byte)'r': Put(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))); break; // LONG_BINPUT
                case 0x94: Put(_memo.Count); break; // MEMOIZE
                case (byte)'h': Get(ReadByte()); break; // BINGET
                case (byte)'j': Get(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))); break; // LONG_BINGET
                case (byte)'c': // GLOBAL
                    {
                        string module = ReadLine();
                        string name = ReadLine();
                        Push(PickleAllowList.Resolve(module, name, _ctx));
                        break;
                    }
                case 0x93: // STACK_GLOBAL
                    {
                        var name = Pop();
                        var module = Pop();
                        if (module is not string m || name is not string n)
                            throw Error($"STACK_GLOBAL with {Describe(module)} and {Describe(name)} instead of two strings");
                        Push(PickleAllowList.Resolve(m, n, _ctx));
                        break;
                    }
                case (byte)'R': // REDUCE
                    {
                        var args = Pop();
                        var callable = Pop();
                        Push(PickleAllowList.Call(callable, args, _ctx));
                        break;
                    }
                case 0x81: // NEWOBJ
                    {
                        var args = Pop();
                        var cls = Pop();
                        Push(PickleAllowList.New(cls, args, _ctx));
                        break;
                    }
                case 0x92: // NEWOBJ_EX
                    {
                        var kwargs = Pop();
                        var args = Pop();
                        var cls = Pop();
                        if (kwargs is not PickleDict { Entries.Count: 0 }) throw Error("NEWOBJ_EX with keyword arguments is not supported");
                        Push(PickleAllowList.New(cls, args, _ctx));
                        break;
                    }
                case (byte)'b': // BUILD
                    {
                        var state = Pop();
                        var target = Peek();
                        switch (target)
                        {
                            // A state_dict's OrderedDict carries `_metadata` (module versions); tensors may carry
                            // Python attributes. Neither affects the weights, so the state is dropped.
                            case PickleDict or TorchTensorRef: break;
                            case PickleObject o: o.State = state; break;
                            default: throw Error($"BUILD on {Describe(target)}");
                        }
                        break;
                    }
                case (byte)'Q': // BINPERSID
                    Push(_persistentLoad(Pop(), _ctx));
                    break;
                default:
                    throw Error($"unknown or unsupported opcode 0x{op:X2}{(op is >= 0x20 and < 0x7F ? $" ('{(char)op}')" : "")}");
            }
        }
    }

    private CheckpointException Error(string message) => _ctx.Error(message);

    private void Push(object? v) => _stack.Add(v);

    private object? Pop()
    {
        int floor = _marks.Count > 0 ? _marks[^1] : 0;
        if (_stack.Count <= floor) throw Error(_stack.Count == 0 ? "stack underflow" : "stack underflow (value popped across a MARK)");
        var v = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return v;
    }

    private object? Peek()
    {
        int floor = _marks.Count > 0 ? _marks[^1] : 0;
        if (_stack.Count <= floor) throw Error("stack underflow");
        return _stack[^1];
    }

    private object?[] PopN(int n)
    {
        int floor = _marks.Count > 0 ? _marks[^1] : 0;
        if (_stack.Count - floor < n) throw Error($"stack underflow (needed {n} values, have {_stack.Count - floor})");
        var items = _stack.GetRange(_stack.Count - n, n).ToArray();
        _stack.RemoveRange(_stack.Count - n, n);
        return items;
    }

    private object?[] PopMark()
    {
        if (_marks.Count == 0) throw Error("stack underflow: no MARK to pop to");
        int start = _marks[^1];
        _marks.RemoveAt(_marks.Count - 1);
        var items = _stack.GetRange(start, _stack.Count - start).ToArray();
        _stack.RemoveRange(start, _stack.Count - start);
        return items;
    }

    private void SetItems(PickleDict dict, object?[] items)
    {
        if (items.Length % 2 != 0) throw Error($"odd number ({items.Length}) of keys and values for a dict");
        for (int i = 0; i < items.Length; i += 2) dict.Set(items[i], items[i + 1]);
    }

    private List<object?> AsList(object? v, string op) => v as List<object?> ?? throw Error($"{op} on {Describe(v)}, not a list");

    private PickleDict AsDict(object? v, string op) => v as PickleDict ?? throw Error($"{op} on {Describe(v)}, not a dict");

    private void Put(long index) => _memo[index] = Peek();

    private void Get(long index)
    {
        if (!_memo.TryGetValue(index, out var v)) throw Error($"memo index {index} out of range (memo holds {_memo.Count} values)");
        Push(v);
    }

    private byte ReadByte()
    {
        if (_pos >= _data.Length) throw Error("pickle truncated inside an opcode argument");
        return _data[_pos++];
    }

    private ReadOnlySpan<byte> Take(int n)
    {
        if (_data.Length - _pos < n) throw Error("pickle truncated inside an opcode argument");
        var s = _data.AsSpan(_pos, n);
        _pos += n;
        return s;
    }

    /// <summary>A length-prefixed payload, checked against the bytes present before it is touched.</summary>
    private ReadOnlySpan<byte> TakeClaimed(ulong n, string op)
    {
        if (n > (ulong)(_data.Length - _pos)) throw Error($"{op} claims {n} bytes but only {_data.Length - _pos} remain");
        return Take((int)n);
    }

    private string ReadUtf8(ulong n)
    {
        var bytes = TakeClaimed(n, "string");
        try { return new UTF8Encoding(false, true).GetString(bytes); }
        catch (DecoderFallbackException) { throw Error("string is not valid UTF-8"); }
    }

    private object ReadLong(int n)
    {
        var bytes = TakeClaimed((ulong)n, "LONG");
        if (n == 0) return 0L;
        if (n <= 8)
        {
            long v = 0;
            for (int i = n - 1; i >= 0; i--) v = (v << 8) | bytes[i];
            int unused = 64 - 8 * n;
            return unused == 0 ? v : (v << unused) >> unused; // sign-extend the two's complement value
        }
        return new BigInteger(bytes, isUnsigned: false, isBigEndian: false);
    }

    private string ReadLine()
    {
        int end = Array.IndexOf(_data, (byte)'\n', _pos, Math.Min(MaxGlobalLineBytes, _data.Length - _pos));
        if (end < 0) throw Error("GLOBAL name is not terminated by a newline");
        string s = Encoding.UTF8.GetString(_data, _pos, end - _pos);
        _pos = end + 1;
        return s;
    }
}
